package procuring

import (
	"encoding/binary"
	"syscall"
	"testing"
	"unsafe"

	"github.com/prometheus/procfs"
)

// Benchmarks run against PROCURING_BENCH_PROCS (default 2000) idle children, started once
// and killed by TestMain. Besides ns/op and allocs/op, each reports cpu-ns/op: user+system
// CPU time of the whole process (io_uring's io-wq workers included) per operation.
//
// The floor sub-benchmarks (AllProcs/getdents-floor, KeplerScan/floor, KeplerFirstScan/floor)
// make only the syscalls any implementation has to make, with raw syscalls, reused buffers and
// no parsing (neither procfs nor the library): "best possible ratio" = procfs / floor.

func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// measure runs op b.N times, reporting allocations and CPU time per op.
func measure(b *testing.B, op func()) {
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		op()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

func benchFS(b *testing.B, engine string) FS {
	fs, err := NewFSWithOptions("/proc", Options{Engine: engine})
	if err != nil {
		b.Skipf("engine %s: %v", engine, err)
	}
	b.Cleanup(func() { fs.Close() })
	return fs
}

// floorBuf is the reused buffer of the floors: getdents64 records and file contents.
const floorBuf = 64 << 10

// floorList reads every entry of the directory fd (from its current offset, normally 0) with
// getdents64 into buf and appends the numeric names to pids[:0].
func floorList(b *testing.B, fd int, buf []byte, pids []int) []int {
	pids = pids[:0]
	for {
		n, err := syscall.Getdents(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			b.Fatal("getdents /proc:", err)
		}
		if n <= 0 {
			return pids
		}
		// linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, NUL-terminated name.
		for d := buf[:n]; len(d) >= 20; {
			reclen := int(binary.NativeEndian.Uint16(d[16:18]))
			if reclen < 20 || reclen > len(d) {
				break
			}
			pid, digits := 0, 0
			for _, c := range d[19:reclen] {
				if c < '0' || c > '9' {
					if c != 0 {
						digits = 0
					}
					break
				}
				pid = pid*10 + int(c-'0')
				digits++
			}
			if digits > 0 {
				pids = append(pids, pid)
			}
			d = d[reclen:]
		}
	}
}

// floorListProc is one listing as procfs does it: open /proc, getdents64 to the end, close.
func floorListProc(b *testing.B, buf []byte, pids []int) []int {
	fd, err := syscall.Open("/proc", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal("open /proc:", err)
	}
	pids = floorList(b, fd, buf, pids)
	syscall.Close(fd)
	return pids
}

// floorPath writes "<pid>/<name>\x00" into path (reused) and returns it.
func floorPath(path []byte, pid int, name string) []byte {
	var digits [20]byte
	i := len(digits)
	for {
		i--
		digits[i] = byte('0' + pid%10)
		pid /= 10
		if pid == 0 {
			break
		}
	}
	path = append(path[:0], digits[i:]...)
	path = append(path, '/')
	path = append(path, name...)
	return append(path, 0)
}

// floorIdentity are the files a first Kepler scan reads of every process through procfs
// (keplerProcfs: Stat, Comm, Cgroups, Environ, CmdLine; Executable is a readlink of exe).
var floorIdentity = []string{"stat", "comm", "cgroup", "environ", "cmdline"}

// floorFirstScan is the kernel's part of a first Kepler scan: one listing of /proc, then per
// pid open + read + close of floorIdentity and readlinkat of exe, relative to the /proc
// descriptor (no allocation). A read that does not fill buf is the whole file: one read per
// file (procfs's io.ReadAll makes a second one, returning 0, which a floor need not).
func floorFirstScan(b *testing.B, buf, path []byte, pids []int) ([]int, []byte) {
	dir, err := syscall.Open("/proc", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal("open /proc:", err)
	}
	pids = floorList(b, dir, buf, pids)
	for _, pid := range pids {
		for _, name := range floorIdentity {
			path = floorPath(path, pid, name)
			fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dir), uintptr(unsafe.Pointer(&path[0])),
				syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
			if e != 0 {
				continue // exited, or a kernel thread's empty file
			}
			for {
				n, err := syscall.Read(int(fd), buf)
				if err == syscall.EINTR {
					continue
				}
				if err != nil || n < len(buf) {
					break
				}
			}
			syscall.Close(int(fd))
		}
		path = floorPath(path, pid, "exe")
		syscall.Syscall6(syscall.SYS_READLINKAT, uintptr(dir), uintptr(unsafe.Pointer(&path[0])),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	}
	syscall.Close(dir)
	return pids, path
}

func BenchmarkAllProcs(b *testing.B) {
	benchChildren(b)
	b.Run("procfs", func(b *testing.B) {
		fs, err := procfs.NewFS("/proc")
		if err != nil {
			b.Fatal(err)
		}
		measure(b, func() {
			if _, err := fs.AllProcs(); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("procuring", func(b *testing.B) {
		fs := benchFS(b, "")
		measure(b, func() {
			if _, err := fs.AllProcs(); err != nil {
				b.Fatal(err)
			}
		})
	})
	// What any listing costs: open /proc, getdents64 to the end, numeric names parsed, close.
	b.Run("getdents-floor", func(b *testing.B) {
		buf, pids := make([]byte, floorBuf), make([]int, 0, 4096)
		measure(b, func() { pids = floorListProc(b, buf, pids) })
	})
}

// keplerState is what a Kepler-like collector keeps between scans: the pids it knows.
type keplerState struct {
	prev, next map[int]bool
	cpu        float64
}

func newKeplerState() *keplerState {
	return &keplerState{prev: map[int]bool{}, next: map[int]bool{}}
}

func (k *keplerState) swap() {
	k.prev, k.next = k.next, k.prev
	clear(k.next)
}

// keplerProcfs is one Kepler scan through procfs: Stat().CPUTime() of every process,
// identity (Comm, Executable, Cgroups, Environ, CmdLine) of processes not seen before.
func keplerProcfs(b *testing.B, fs procfs.FS, k *keplerState) {
	ps, err := fs.AllProcs()
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range ps {
		st, err := p.Stat()
		if err != nil {
			continue
		}
		k.cpu += st.CPUTime()
		if !k.prev[p.PID] {
			p.Comm()
			p.Executable()
			p.Cgroups()
			p.Environ()
			p.CmdLine()
		}
		k.next[p.PID] = true
	}
	k.swap()
}

// keplerOurs is the same scan through this package (same code, our types).
func keplerOurs(b *testing.B, fs FS, k *keplerState) {
	ps, err := fs.AllProcs()
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range ps {
		st, err := p.Stat()
		if err != nil {
			continue
		}
		k.cpu += st.CPUTime()
		if !k.prev[p.PID] {
			p.Comm()
			p.Executable()
			p.Cgroups()
			p.Environ()
			p.CmdLine()
		}
		k.next[p.PID] = true
	}
	k.swap()
}

// BenchmarkKeplerScan: the steady state of a collector (one warm-up scan first).
func BenchmarkKeplerScan(b *testing.B) {
	benchChildren(b)
	b.Run("procfs", func(b *testing.B) {
		fs, err := procfs.NewFS("/proc")
		if err != nil {
			b.Fatal(err)
		}
		k := newKeplerState()
		keplerProcfs(b, fs, k)
		measure(b, func() { keplerProcfs(b, fs, k) })
	})
	for _, engine := range []string{EngineURing, EngineSync} {
		b.Run("procuring-"+engine, func(b *testing.B) {
			fs := benchFS(b, engine)
			k := newKeplerState()
			keplerOurs(b, fs, k)
			measure(b, func() { keplerOurs(b, fs, k) })
		})
	}
	// Options.ReuseIdleStat: schedstat of every process, stat only of those that ran since
	// the last scan (here every child sleeps: the best case).
	b.Run("procuring-sync-reuse-idle", func(b *testing.B) {
		fs, err := NewFSWithOptions("/proc", Options{Engine: EngineSync, ReuseIdleStat: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { fs.Close() })
		k := newKeplerState()
		keplerOurs(b, fs, k)
		keplerOurs(b, fs, k)
		measure(b, func() { keplerOurs(b, fs, k) })
	})
	// The least a steady-state scan can cost: one listing plus a pread of every process's
	// stat through a descriptor opened before the timer (the library's held descriptors).
	b.Run("floor", func(b *testing.B) {
		buf, path := make([]byte, floorBuf), make([]byte, 0, 32)
		pids := floorListProc(b, buf, nil)
		fds := make([]int, 0, len(pids))
		b.Cleanup(func() {
			for _, fd := range fds {
				syscall.Close(fd)
			}
		})
		for _, pid := range pids {
			path = floorPath(path, pid, "stat")
			fd, err := syscall.Open("/proc/"+string(path[:len(path)-1]), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err == syscall.EMFILE || err == syscall.ENFILE {
				b.Fatalf("holding %d stat descriptors: %v", len(pids), err)
			}
			if err == nil {
				fds = append(fds, fd)
			}
		}
		measure(b, func() {
			pids = floorListProc(b, buf, pids)
			for _, fd := range fds {
				syscall.Pread(fd, buf, 0)
			}
		})
	})
}

// BenchmarkKeplerFirstScan: the cold case, every process new (a new FS per op).
func BenchmarkKeplerFirstScan(b *testing.B) {
	benchChildren(b)
	b.Run("procfs", func(b *testing.B) {
		measure(b, func() {
			fs, err := procfs.NewFS("/proc")
			if err != nil {
				b.Fatal(err)
			}
			keplerProcfs(b, fs, newKeplerState())
		})
	})
	for _, engine := range []string{EngineURing, EngineSync} {
		b.Run("procuring-"+engine, func(b *testing.B) {
			benchFS(b, engine) // skips when the engine cannot run
			measure(b, func() {
				fs, err := NewFSWithOptions("/proc", Options{Engine: engine})
				if err != nil {
					b.Fatal(err)
				}
				keplerOurs(b, fs, newKeplerState())
				fs.Close()
			})
		})
	}
	// The least a first scan can cost: one listing plus open/read/close of every file it
	// reads and readlinkat of exe, per process.
	b.Run("floor", func(b *testing.B) {
		buf, path, pids := make([]byte, floorBuf), make([]byte, 0, 32), make([]int, 0, 4096)
		measure(b, func() { pids, path = floorFirstScan(b, buf, path, pids) })
	})
	// With the files a Kepler scan needs named up front, the cold scan is one batch
	// instead of one per file.
	b.Run("procuring-sync-prefetch", func(b *testing.B) {
		benchFS(b, EngineSync)
		opts := Options{Engine: EngineSync, Prefetch: []File{FileComm, FileExe, FileCgroup, FileEnviron, FileCmdline}}
		measure(b, func() {
			fs, err := NewFSWithOptions("/proc", opts)
			if err != nil {
				b.Fatal(err)
			}
			keplerOurs(b, fs, newKeplerState())
			fs.Close()
		})
	})
}
