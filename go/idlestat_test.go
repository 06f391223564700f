//go:build cgo && ((linux && amd64) || procuring_system)

package procuring

import (
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// TestReuseIdleStat: with Options.ReuseIdleStat, the Stat of an idle process comes from an
// earlier read and equals procfs's; a busy process's CPU time keeps moving; without the
// option nothing is reused.
func TestReuseIdleStat(t *testing.T) {
	idle := startChild(t, "sleep", "600")
	busy := startChild(t, "sh", "-c", "while :; do :; done")
	pfs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	// Not bpf: its walk reads the stat of every process in one pass, and reuses none.
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			fs, err := NewFSWithOptions("/proc", Options{Engine: engine, ReuseIdleStat: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fs.Close() })
			be := backendOf(t, fs)
			// scan is one Kepler-like listing: Stat of every process; it returns the stats
			// of the two children.
			scan := func() (ProcStat, ProcStat) {
				ps, err := fs.AllProcs()
				if err != nil {
					t.Fatal(err)
				}
				var a, b ProcStat
				for _, p := range ps {
					st, err := p.Stat()
					switch {
					case err != nil:
					case p.PID == idle.Process.Pid:
						a = st
					case p.PID == busy.Process.Pid:
						b = st
					}
				}
				return a, b
			}
			deadline := time.Now().Add(20 * time.Second)
			var idleSt, busySt ProcStat
			for {
				idleSt, busySt = scan()
				if be.lastScan().statReused > 0 {
					theirs, err := pfs.Proc(idle.Process.Pid)
					if err != nil {
						t.Fatal(err)
					}
					want, err := theirs.Stat()
					if err != nil {
						t.Fatal(err)
					}
					// Equal unless the idle child ran (it settles after exec) in between.
					if diffs := compareFields(idleSt, want, exact); len(diffs) == 0 {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("no reused stat equal to procfs's: %+v", be.lastScan())
				}
				time.Sleep(20 * time.Millisecond)
			}
			before := busySt.CPUTime()
			for busySt.CPUTime() <= before {
				if time.Now().After(deadline) {
					t.Fatalf("busy child's CPU time stuck at %v", before)
				}
				time.Sleep(20 * time.Millisecond)
				_, busySt = scan()
			}
			if idleSt.PID != idle.Process.Pid || busySt.PID != busy.Process.Pid {
				t.Fatalf("children missing: %d %d", idleSt.PID, busySt.PID)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		fs := mustFS(t, "/proc", EngineSync)
		be := backendOf(t, fs)
		for range 3 {
			ps, err := fs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				p.Stat()
			}
			if n := be.lastScan().statReused; n != 0 {
				t.Fatalf("%d stats reused without ReuseIdleStat", n)
			}
		}
	})
}
