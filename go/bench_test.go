package procuring

import (
	"syscall"
	"testing"

	"github.com/prometheus/procfs"
)

// Benchmarks run against PROCURING_BENCH_PROCS (default 2000) idle children, started once
// and killed by TestMain. Besides ns/op and allocs/op, each reports cpu-ns/op: user+system
// CPU time of the whole process (io_uring's io-wq workers included) per operation.

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
