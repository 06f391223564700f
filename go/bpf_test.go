//go:build cgo && ((linux && amd64) || procuring_system)

package procuring

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// needBPF skips t when the bpf engine cannot load, with the reason.
func needBPF(t testing.TB) {
	t.Helper()
	if _, err := bpfAvailable(); err != nil {
		t.Skipf("bpf engine unavailable: %v", err)
	}
}

func init() {
	lastScanWall = func(fs FS) int64 {
		b, ok := fs.st.be.(*cBackend)
		if !ok {
			return 0
		}
		b.h.list.mu.Lock()
		defer b.h.list.mu.Unlock()
		return int64(b.last.wall_ns)
	}
}

// TestBPFAvailable says whether the bpf engine runs here (the differential tests include it
// only then), and why not.
func TestBPFAvailable(t *testing.T) {
	needBPF(t)
	fs := mustFS(t, "/proc", EngineBPF)
	_, reason := fs.Engine()
	t.Logf("bpf engine: %s", reason)
}

// TestBPFListing: with the bpf engine a listing is one library scan (the walk lists the
// processes and reads their stat), which answers Stat and Comm of every process: no other
// scan, no direct read. Comm is the walk's stat comm, trimmed as procfs trims the comm file
// (hostile names included). Executable is read directly, for the processes asked only.
func TestBPFListing(t *testing.T) {
	needBPF(t)
	kids := startKids(t)
	pfs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	fs := mustFS(t, "/proc", EngineBPF)
	commsNow := func() map[int]string {
		m := map[int]string{}
		pp, err := pfs.AllProcs()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pp {
			if c, err := p.Comm(); err == nil {
				m[p.PID] = c
			}
		}
		return m
	}
	for round := range 3 {
		before := commsNow()
		s0, d0 := fs.ScanCount(), fs.st.direct.Load()
		ps, err := fs.AllProcs()
		if err != nil {
			t.Fatal(err)
		}
		if n := fs.ScanCount() - s0; n != 1 {
			t.Fatalf("round %d: AllProcs made %d scans, want 1 (the walk)", round, n)
		}
		if !ps[0].l.walk || ps[0].l.src[FileStat].Load() == nil {
			t.Fatalf("round %d: the listing is not the walk's", round)
		}
		for i := 1; i < len(ps); i++ {
			if ps[i].PID <= ps[i-1].PID {
				t.Fatalf("round %d: pids not ascending at %d: %d after %d", round, i, ps[i].PID, ps[i-1].PID)
			}
		}
		if indexOf(ps, os.Getpid()) < 0 {
			t.Fatalf("round %d: this process is not listed", round)
		}
		for pid, what := range kids.pids {
			if indexOf(ps, pid) < 0 {
				t.Fatalf("round %d: child %d (%s) not listed", round, pid, what)
			}
		}
		comms := make([]string, len(ps))
		for i, p := range ps {
			st, err := p.Stat()
			if err != nil {
				t.Fatalf("round %d: Stat of %d: %v", round, p.PID, err)
			}
			if comms[i], err = p.Comm(); err != nil {
				t.Fatalf("round %d: Comm of %d: %v", round, p.PID, err)
			}
			if comms[i] != strings.TrimSpace(st.Comm) {
				t.Fatalf("round %d: pid %d: Comm %q, stat comm %q", round, p.PID, comms[i], st.Comm)
			}
		}
		if n, d := fs.ScanCount()-s0, fs.st.direct.Load()-d0; n != 1 || d != 0 {
			t.Fatalf("round %d: Stat+Comm of %d processes: %d scans and %d direct reads, want 1 and 0", round, len(ps), n, d)
		}
		// Comm against procfs: our children exactly (hostile names, a zombie), and every
		// process whose comm procfs read the same before and after the listing (kernel
		// threads included; a workqueue worker renames itself as it runs other work).
		after := commsNow()
		compared := 0
		for i, p := range ps {
			want, ok := after[p.PID]
			_, kid := kids.pids[p.PID]
			if !kid && (!ok || before[p.PID] != want) {
				continue // gone, or renamed meanwhile
			}
			if comms[i] != want {
				t.Errorf("round %d: pid %d (%s): Comm %q, procfs %q", round, p.PID, kids.pids[p.PID], comms[i], want)
			}
			compared++
		}
		if compared < len(kids.pids) {
			t.Fatalf("round %d: only %d comms compared", round, compared)
		}
		// Executable: one direct read per process asked (a window of one), no scan.
		s1, d1 := fs.ScanCount(), fs.st.direct.Load()
		asked := 0
		for pid := range kids.pids {
			p := ps[indexOf(ps, pid)]
			got, err := p.Executable()
			want, werr := procfsProc(pfs, pid).Executable()
			if got != want || errKind(err) != errKind(werr) {
				t.Errorf("round %d: Executable of %d (%s): %q %v, procfs %q %v", round, pid, kids.pids[pid], got, err, want, werr)
			}
			asked++
		}
		if n, d := fs.ScanCount()-s1, fs.st.direct.Load()-d1; n != 0 || d < 1 || d > int64(asked) {
			t.Errorf("round %d: Executable of %d children: %d scans, %d direct reads, want 0 and 1..%d", round, asked, n, d, asked)
		}
		// As of the batch: a second Stat of this process is the same; Refresh reads again
		// (one scan of the listing's pids), and Comm follows that batch.
		self := ps[indexOf(ps, os.Getpid())]
		a, _ := self.Stat()
		busy(20 * time.Millisecond)
		if b, _ := self.Stat(); b != a {
			t.Fatalf("round %d: Stat of a listed Proc changed within its batch", round)
		}
		s2, d2 := fs.ScanCount(), fs.st.direct.Load()
		ps.Refresh()
		c, err := self.Stat()
		if err != nil || c.UTime+c.STime < a.UTime+a.STime {
			t.Fatalf("round %d: Stat after Refresh: %+v %v", round, c, err)
		}
		if comm, err := self.Comm(); err != nil || comm != strings.TrimSpace(c.Comm) {
			t.Fatalf("round %d: Comm after Refresh: %q %v, stat %q", round, comm, err, c.Comm)
		}
		if n, d := fs.ScanCount()-s2, fs.st.direct.Load()-d2; n != 1 || d != 0 {
			t.Fatalf("round %d: after Refresh, Stat+Comm: %d scans, %d direct reads, want 1 and 0", round, n, d)
		}
	}
}

// TestBPFSteadyStateAllocs: a bpf listing plus Stat and Comm of every process allocates a
// constant number of times, not per process.
func TestBPFSteadyStateAllocs(t *testing.T) {
	needBPF(t)
	startKids(t)
	fs := mustFS(t, "/proc", EngineBPF)
	allocsPerListing(t, fs, 16, "Stat+Comm", func(p Proc) {
		st, _ := p.Stat()
		_ = st.CPUTime()
		p.Comm()
	})
}

// BenchmarkBPFParts: where the Go time of a bpf listing goes, part by part (each sub-benchmark
// adds one step to the previous one): the library's scan alone (one cgo call), plus the
// conversion into a batch, AllProcs, Stat of every process, Comm and Executable of one in
// twenty (Kepler's moved processes).
func BenchmarkBPFParts(b *testing.B) {
	benchChildren(b)
	fs := benchFS(b, EngineBPF)
	be := fs.st.be.(*cBackend)
	b.Run("cgo-scan", func(b *testing.B) {
		s := &be.h.list
		measure(b, func() {
			s.mu.Lock()
			if _, err := s.scan(1<<FileStat, 0, nil); err != nil {
				b.Fatal(err)
			}
			s.mu.Unlock()
		})
	})
	b.Run("scan+build", func(b *testing.B) {
		n := 0
		measure(b, func() {
			bt, err := be.scanAll(1<<FileStat, 0)
			if err != nil {
				b.Fatal(err)
			}
			n = len(bt.heads)
		})
		b.ReportMetric(float64(n), "procs")
	})
	b.Run("AllProcs", func(b *testing.B) {
		measure(b, func() {
			if _, err := fs.AllProcs(); err != nil {
				b.Fatal(err)
			}
		})
	})
	var sink float64
	steps := []struct {
		name string
		each func(i int, p Proc)
	}{
		{"+Stat", func(i int, p Proc) {
			if st, err := p.Stat(); err == nil {
				sink += st.CPUTime()
			}
		}},
		{"+Stat+Comm5%", func(i int, p Proc) {
			if st, err := p.Stat(); err == nil {
				sink += st.CPUTime()
			}
			if i%20 == 0 {
				p.Comm()
			}
		}},
		{"+Stat+Comm5%+Executable5%", func(i int, p Proc) {
			if st, err := p.Stat(); err == nil {
				sink += st.CPUTime()
			}
			if i%20 == 0 {
				p.Comm()
				p.Executable()
			}
		}},
	}
	for _, s := range steps {
		b.Run("AllProcs"+s.name, func(b *testing.B) {
			n := 0
			measure(b, func() {
				ps, err := fs.AllProcs()
				if err != nil {
					b.Fatal(err)
				}
				for i, p := range ps {
					s.each(i, p)
				}
				n = len(ps)
			})
			b.ReportMetric(float64(n), "procs")
		})
	}
}

// TestBPFOptions: the bpf engine with the options that change what a listing's first batch
// reads (IdentityCache, ReuseIdleStat, Prefetch): identity values equal procfs's for our
// children, and once a listing has shown what every process is asked, the next listing is
// one scan.
func TestBPFOptions(t *testing.T) {
	needBPF(t)
	kids := startKids(t)
	for _, o := range []Options{
		{Engine: EngineBPF, IdentityCache: true},
		{Engine: EngineBPF, ReuseIdleStat: true},
		{Engine: EngineBPF, Prefetch: []File{FileExe, FileCmdline}},
	} {
		fs, err := NewFSWithOptions("/proc", o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fs.Close() })
		for round := range 3 {
			s0 := fs.ScanCount()
			ps, err := fs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				p.Stat()
				p.Comm()
				p.Executable()
				p.CmdLine()
			}
			// Counted before the children's identity below, which also asks Cgroups and
			// Environ of a few processes: in the random order of a map, consecutive ones
			// can grow a window into a read of the whole listing (a second scan).
			if n := fs.ScanCount() - s0; round > 0 && n != 1 {
				t.Errorf("%+v, listing %d: %d scans, want 1", o, round, n)
			}
			for pid, what := range kids.pids {
				got, want := ourIdentity(ps[indexOf(ps, pid)]), procfsIdentityOf(t, pid)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%+v, listing %d, pid %d (%s):\n got %+v\nwant %+v (procfs)", o, round, pid, what, got, want)
				}
			}
		}
	}
}
