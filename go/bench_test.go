package procuring

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"sync"
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

// keplerProc is what a Kepler-like collector keeps of one process between refreshes.
type keplerProc struct {
	cpu   float64
	comm  string
	typed bool // container/VM type detected (Cgroups, Environ, CmdLine read)
}

// keplerState is what a Kepler-like collector keeps between refreshes.
type keplerState struct {
	prev, next map[int]keplerProc
	calls      [numFiles]int // calls per file of the last refresh (for the benchmark report)
	// listCPU: CPU time spent in AllProcs, summed over refreshes (the rest of a refresh is
	// the collector's own work and the per-process calls).
	listCPU int64
}

func newKeplerState() *keplerState {
	return &keplerState{prev: map[int]keplerProc{}, next: map[int]keplerProc{}}
}

func (k *keplerState) swap() {
	k.prev, k.next = k.next, k.prev
	clear(k.next)
}

// identityReader is what Proc and procfs.Proc have in common beyond Stat (whose types
// differ): the identity files Kepler's informer reads.
type identityReader interface {
	Comm() (string, error)
	CmdLine() ([]string, error)
	Executable() (string, error)
	Cgroups() ([]Cgroup, error)
	Environ() ([]string, error)
}

// keplerProcfs is one refresh of Kepler's informer (internal/resource/informer.go,
// populateProcessFields) through procfs: Stat().CPUTime() of every process; Comm and
// Executable of the processes whose CPU time moved (or that are new); Cgroups and Environ
// (container) and CmdLine (VM) from two goroutines at once for new processes and those
// whose comm changed.
func keplerProcfs(b *testing.B, fs procfs.FS, k *keplerState) {
	c0 := cpuTime()
	ps, err := fs.AllProcs()
	k.listCPU += cpuTime() - c0
	if err != nil {
		b.Fatal(err)
	}
	k.calls = [numFiles]int{}
	for _, p := range ps {
		if st, err := p.Stat(); err == nil {
			visit(k, p.PID, st.CPUTime(), p)
		}
	}
	k.swap()
}

// keplerOurs is the same refresh through this package (same code, our types).
func keplerOurs(b *testing.B, fs FS, k *keplerState) {
	c0 := cpuTime()
	ps, err := fs.AllProcs()
	k.listCPU += cpuTime() - c0
	if err != nil {
		b.Fatal(err)
	}
	k.calls = [numFiles]int{}
	for _, p := range ps {
		if st, err := p.Stat(); err == nil {
			visit(k, p.PID, st.CPUTime(), p)
		}
	}
	k.swap()
}

// visit is the informer's work for one process whose stat was read (cpu: its CPU time).
// Generic, not an identityReader argument: boxing each Proc into an interface would cost
// every refresh an allocation per process that Kepler's own loop does not make.
func visit[P identityReader](k *keplerState, pid int, cpu float64, p P) {
	k.calls[FileStat]++
	e, seen := k.prev[pid]
	delta := cpu - e.cpu
	e.cpu = cpu
	if seen && e.comm != "" && delta <= 1e-12 {
		k.next[pid] = e
		return
	}
	comm, err := p.Comm()
	if err != nil {
		return
	}
	changed := comm != e.comm
	e.comm = comm
	p.Executable()
	k.calls[FileComm]++
	if !e.typed || changed {
		q := p // the goroutines' copy (p itself stays on the stack)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { q.Cgroups(); q.Environ(); wg.Done() }()
		go func() { q.CmdLine(); wg.Done() }()
		wg.Wait()
		e.typed = true
		k.calls[FileCgroup]++
	}
	k.next[pid] = e
}

// busyChildren are the benchmark children that burn CPU between two refreshes (one
// stdin pipe each; they answer on a shared pipe when done).
var busyKids struct {
	once sync.Once
	in   []*os.File
	ack  *os.File
	pids []int
	err  error
}

// busyShare is the share of busy children: PROCURING_BENCH_BUSY percent of the idle ones
// (default 5).
func busyShare() int {
	n := 5
	if v := os.Getenv("PROCURING_BENCH_BUSY"); v != "" {
		fmt.Sscanf(v, "%d", &n)
	}
	return benchProcs() * n / 100
}

// startBusyChildren starts the busy children once (killed by stopBenchChildren). Each
// burns about 10 ms of CPU per wake-up (a shell loop), so that its CPU time (in clock
// ticks) moves between two refreshes.
func startBusyChildren(b *testing.B) {
	busyKids.once.Do(func() {
		r, w, err := os.Pipe()
		if err != nil {
			busyKids.err = err
			return
		}
		defer w.Close()
		busyKids.ack = r
		for range busyShare() {
			ir, iw, err := os.Pipe()
			if err != nil {
				busyKids.err = err
				return
			}
			c := exec.Command("/bin/sh", "-c", "while read x; do i=0; while [ $i -lt 6000 ]; do i=$((i+1)); done; echo; done")
			c.Stdin, c.Stdout = ir, w
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			err = c.Start()
			ir.Close()
			if err != nil {
				iw.Close()
				busyKids.err = err
				return
			}
			busyKids.in = append(busyKids.in, iw)
			bench.mu.Lock()
			bench.pids = append(bench.pids, c.Process.Pid)
			bench.mu.Unlock()
			c.Process.Release()
		}
	})
	if busyKids.err != nil {
		b.Fatalf("busy children: %v", busyKids.err)
	}
}

// wakeBusy makes every busy child burn once and waits until all are done.
func wakeBusy(b *testing.B) {
	for _, w := range busyKids.in {
		w.Write([]byte("\n"))
	}
	buf := make([]byte, len(busyKids.in))
	for got := 0; got < len(buf); {
		n, err := busyKids.ack.Read(buf[got:])
		if err != nil {
			b.Fatal(err)
		}
		got += n
	}
}

// measureBusy is measure with the busy children woken before each op (not timed: their
// CPU is theirs, and the wake-up's is left out).
func measureBusy(b *testing.B, op func()) {
	b.ReportAllocs()
	b.ResetTimer()
	var cpu int64
	for range b.N {
		b.StopTimer()
		wakeBusy(b)
		b.StartTimer()
		c0 := cpuTime()
		op()
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// lastScanWall returns the library's wall time of the last scan of fs's listing scanner (set
// with cgo): KeplerScan reports it as last-scan-ns/op, the part of a refresh spent in the
// library's stat batch (with bpf, the walk).
var lastScanWall func(FS) int64

// reportKepler adds to b the calls of the last refresh: processes whose Comm and
// Executable were read (CPU time moved), and those whose type was detected.
// listCPU0 is k.listCPU when the measured ops started (reportKepler reports it per op).
func reportKepler(b *testing.B, k *keplerState, listCPU0 int64) {
	b.ReportMetric(float64(k.calls[FileComm]), "moved/op")
	b.ReportMetric(float64(k.calls[FileCgroup]), "typed/op")
	b.ReportMetric(float64(k.listCPU-listCPU0)/float64(b.N), "allprocs-cpu-ns/op")
}

// benchVariant is one configuration of this package that a benchmark measures.
type benchVariant struct {
	name string
	opts Options
}

// benchVariants are the configurations every Kepler benchmark measures.
var benchVariants = []benchVariant{
	{"procuring-uring", Options{Engine: EngineURing}},
	{"procuring-sync", Options{Engine: EngineSync}},
	{"procuring-sync-identity-cache", Options{Engine: EngineSync, IdentityCache: true}},
}

// BenchmarkKeplerScan: the steady state of Kepler's informer (one warm-up refresh first),
// with busyShare() children burning CPU between refreshes (their Comm and Executable are
// read each refresh). procuring-sync is exact (identity read by every batch that asks for
// it); -identity-cache is Options.IdentityCache.
func BenchmarkKeplerScan(b *testing.B) {
	benchChildren(b)
	startBusyChildren(b)
	b.Run("procfs", func(b *testing.B) {
		fs, err := procfs.NewFS("/proc")
		if err != nil {
			b.Fatal(err)
		}
		k := newKeplerState()
		keplerProcfs(b, fs, k)
		l0 := k.listCPU
		measureBusy(b, func() { keplerProcfs(b, fs, k) })
		reportKepler(b, k, l0)
	})
	for _, v := range append(benchVariants[:len(benchVariants):len(benchVariants)],
		// Options.ReuseIdleStat: schedstat of every process, stat only of those that ran
		// since the last refresh.
		benchVariant{"procuring-sync-reuse-idle", Options{Engine: EngineSync, ReuseIdleStat: true}},
		// Engine bpf: stat from one BPF walk (root or CAP_BPF + CAP_PERFMON; skipped otherwise).
		benchVariant{"procuring-bpf", Options{Engine: EngineBPF}},
	) {
		b.Run(v.name, func(b *testing.B) {
			fs, err := NewFSWithOptions("/proc", v.opts)
			if err != nil {
				b.Skipf("%s: %v", v.name, err)
			}
			b.Cleanup(func() { fs.Close() })
			k := newKeplerState()
			keplerOurs(b, fs, k)
			wakeBusy(b)
			keplerOurs(b, fs, k)
			var scanNs int64
			l0 := k.listCPU
			measureBusy(b, func() {
				keplerOurs(b, fs, k)
				if lastScanWall != nil {
					scanNs += lastScanWall(fs)
				}
			})
			reportKepler(b, k, l0)
			if lastScanWall != nil {
				b.ReportMetric(float64(scanNs)/float64(b.N), "last-scan-ns/op")
			}
		})
	}
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
	startBusyChildren(b)
	b.Run("procfs", func(b *testing.B) {
		measure(b, func() {
			fs, err := procfs.NewFS("/proc")
			if err != nil {
				b.Fatal(err)
			}
			keplerProcfs(b, fs, newKeplerState())
		})
	})
	// (Not bpf: a new FS per op would load the program each time, once its last FS closed.)
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			fs, err := NewFSWithOptions("/proc", v.opts)
			if err != nil {
				b.Skipf("%s: %v", v.name, err)
			}
			fs.Close()
			measure(b, func() {
				fs, err := NewFSWithOptions("/proc", v.opts)
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

// BenchmarkAskedShare: a listing, then one method called on k% of its processes (evenly
// spread, in listing order), on one FS listing again and again. A file asked of k
// processes must cost about k reads, whichever share.
func BenchmarkAskedShare(b *testing.B) {
	benchChildren(b)
	for _, m := range []struct {
		name   string
		procfs func(procfs.Proc)
		ours   func(Proc)
	}{
		{"Comm", func(p procfs.Proc) { p.Comm() }, func(p Proc) { p.Comm() }},
		{"Stat", func(p procfs.Proc) { p.Stat() }, func(p Proc) { p.Stat() }},
	} {
		for _, pct := range []int{1, 10, 100} {
			step := 100 / pct
			b.Run(fmt.Sprintf("%s/%d%%/procfs", m.name, pct), func(b *testing.B) {
				fs, err := procfs.NewFS("/proc")
				if err != nil {
					b.Fatal(err)
				}
				measure(b, func() {
					ps, err := fs.AllProcs()
					if err != nil {
						b.Fatal(err)
					}
					for i := 0; i < len(ps); i += step {
						m.procfs(ps[i])
					}
				})
			})
			for _, v := range []struct {
				name string
				opts Options
			}{
				{"procuring-sync", Options{Engine: EngineSync}},
				{"procuring-sync-identity-cache", Options{Engine: EngineSync, IdentityCache: true}},
			} {
				b.Run(fmt.Sprintf("%s/%d%%/%s", m.name, pct, v.name), func(b *testing.B) {
					fs, err := NewFSWithOptions("/proc", v.opts)
					if err != nil {
						b.Skipf("%s: %v", v.name, err)
					}
					b.Cleanup(func() { fs.Close() })
					op := func() {
						ps, err := fs.AllProcs()
						if err != nil {
							b.Fatal(err)
						}
						for i := 0; i < len(ps); i += step {
							m.ours(ps[i])
						}
					}
					op()
					op()
					s0 := fs.ScanCount()
					measure(b, op)
					b.ReportMetric(float64(fs.ScanCount()-s0)/float64(b.N), "scans/op")
				})
			}
		}
	}
}
