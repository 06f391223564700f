package readers_test

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	procuring "github.com/procuring/procuring/go"
	"github.com/procuring/procuring/go/internal/readers/procfsreader"
	"github.com/procuring/procuring/go/internal/readers/procuringreader"
	"github.com/prometheus/procfs"
)

// Benchmarks of the two readers at PROCURING_BENCH_PROCS idle children (default 2000),
// CPU (user+sys of this process, which does all the reading) per scan beside wall time:
//
//	go test -run '^$' -bench . -benchtime 10x ./internal/readers/
func benchKids(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("PROCURING_BENCH_PROCS")); err == nil {
		n = v
	}
	for range n {
		p, err := os.StartProcess("/bin/sleep", []string{"sleep", "600"}, &os.ProcAttr{Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}})
		if err != nil {
			b.Skip(err)
		}
		b.Cleanup(func() { p.Kill(); p.Wait() })
	}
	time.Sleep(500 * time.Millisecond)
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measure(b *testing.B, f func()) {
	f() // warm: the first scan opens and caches
	c0 := cpu()
	b.ResetTimer()
	for range b.N {
		f()
	}
	b.StopTimer()
	b.ReportMetric(float64((cpu()-c0).Microseconds())/float64(b.N)/1000, "cpu-ms/scan")
}

func BenchmarkReaders(b *testing.B) {
	benchKids(b)
	pfs, _ := procfs.NewFS("/proc")
	fs, _ := procuring.NewFS("/proc")
	b.Run("exporter/procfs", func(b *testing.B) { measure(b, func() { procfsreader.ExporterOn(pfs, "/proc", false) }) })
	b.Run("exporter/procuring", func(b *testing.B) { measure(b, func() { procuringreader.ExporterOn(fs, "/proc", false) }) })
	b.Run("exporter-threads/procfs", func(b *testing.B) { measure(b, func() { procfsreader.ExporterOn(pfs, "/proc", true) }) })
	b.Run("exporter-threads/procuring", func(b *testing.B) { measure(b, func() { procuringreader.ExporterOn(fs, "/proc", true) }) })
	// The thread FSes (NewFS of /proc/<pid>/task, one per process per scrape) on the procfs
	// engine: what starting a library scanner per thread FS costs.
	b.Run("exporter-threads/procuring-taskfs-procfs-engine", func(b *testing.B) {
		b.Setenv("PROCURING_ENGINE", "procfs") // read by NewFS: the thread FSes, not fs
		measure(b, func() { procuringreader.ExporterOn(fs, "/proc", true) })
	})
	b.Run("kepler/procfs", func(b *testing.B) { measure(b, func() { procfsreader.KeplerOn(pfs) }) })
	fs, _ = procuring.NewFS("/proc") // its own: the files of a listing are remembered per FS
	b.Run("kepler/procuring", func(b *testing.B) { measure(b, func() { procuringreader.KeplerOn(fs) }) })
	fr, _ := procuring.NewFSWithOptions("/proc", procuring.Options{ReuseIdleStat: true})
	b.Run("kepler/procuring-reuse-idle", func(b *testing.B) { measure(b, func() { procuringreader.KeplerOn(fr) }) })
}

// BenchmarkPerProcessFiles: what statm, limits and the fd count cost through procfs per
// process, against the syscall floor a batch could reach (pread of a held statm/limits
// descriptor; open + getdents + close of fd/). Reported per process.
func BenchmarkPerProcessFiles(b *testing.B) {
	benchKids(b)
	pfs, _ := procfs.NewFS("/proc")
	procs, _ := pfs.AllProcs()
	per := func(b *testing.B, f func(p procfs.Proc)) {
		measure(b, func() {
			for _, p := range procs {
				f(p)
			}
		})
		b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(procs)), "ns/proc")
	}
	b.Run("statm/procfs", func(b *testing.B) { per(b, func(p procfs.Proc) { p.NewStatm() }) })
	//lint:ignore SA1019 process-exporter calls NewLimits.
	b.Run("limits/procfs", func(b *testing.B) { per(b, func(p procfs.Proc) { p.NewLimits() }) })
	b.Run("fdlen/procfs", func(b *testing.B) { per(b, func(p procfs.Proc) { p.FileDescriptorsLen() }) })
	b.Run("smaps_rollup/procfs", func(b *testing.B) { per(b, func(p procfs.Proc) { p.ProcSMapsRollup() }) })
	b.Run("wchan/procfs", func(b *testing.B) { per(b, func(p procfs.Proc) { p.Wchan() }) })
	held := func(name string) map[int]int {
		m := map[int]int{}
		for _, p := range procs {
			if fd, err := syscall.Open(filepath.Join("/proc", strconv.Itoa(p.PID), name), syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
				m[p.PID] = fd
			}
		}
		b.Cleanup(func() {
			for _, fd := range m {
				syscall.Close(fd)
			}
		})
		return m
	}
	buf := make([]byte, 4096)
	for _, name := range []string{"statm", "limits"} {
		fds := held(name)
		b.Run(name+"/pread-held", func(b *testing.B) { per(b, func(p procfs.Proc) { syscall.Pread(fds[p.PID], buf, 0) }) })
	}
	dbuf := make([]byte, 8192)
	b.Run("fdlen/getdents", func(b *testing.B) {
		per(b, func(p procfs.Proc) {
			fd, err := syscall.Open("/proc/"+strconv.Itoa(p.PID)+"/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
			if err != nil {
				return
			}
			for {
				n, err := syscall.Getdents(fd, dbuf)
				if n <= 0 || err != nil {
					break
				}
			}
			syscall.Close(fd)
		})
	})
}
