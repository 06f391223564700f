package procuring

import (
	"os"
	"reflect"
	"sort"
	"testing"

	"github.com/prometheus/procfs"
)

// TestThreads: AllThreads, FS.Thread and Proc.Thread list and read the threads procfs
// does (this test process has several), with procfs's errors for a pid that is gone.
func TestThreads(t *testing.T) {
	pid := os.Getpid()
	// The Go runtime starts (and, after a locked goroutine ends, stops) threads of this very
	// process between the two listings: compare listings taken back to back until the set
	// holds still.
	var wp, gp []int
	for try := 0; ; try++ {
		want, err := procfs.AllThreads(pid)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AllThreads(pid)
		if err != nil {
			t.Fatal(err)
		}
		wp, gp = wp[:0], gp[:0]
		for _, p := range want {
			wp = append(wp, p.PID)
		}
		for _, p := range got {
			gp = append(gp, p.PID)
		}
		sort.Ints(wp)
		sort.Ints(gp)
		if reflect.DeepEqual(wp, gp) && len(gp) >= 2 {
			break
		}
		if try == 20 {
			t.Fatalf("threads %v, procfs %v", gp, wp)
		}
	}
	for _, engine := range append(engines(), EngineProcfs) {
		fs := mustFS(t, "/proc", engine)
		self, _ := fs.Self()
		pfs, _ := procfs.NewFS("/proc")
		tid := pid // the main thread: its comm and stat fields do not move here
		a, err1 := fs.Thread(pid, tid)
		b, err2 := self.Thread(tid)
		w, err3 := pfs.Thread(pid, tid)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal(err1, err2, err3)
		}
		for _, p := range []Proc{a, b} {
			c1, _ := p.Comm()
			c2, _ := w.Comm()
			s1, _ := p.Stat()
			s2, _ := w.Stat()
			if c1 != c2 || s1.PID != s2.PID || s1.Starttime != s2.Starttime || p.Procfs().PID != tid {
				t.Errorf("%s: thread %d: %q %+v, procfs %q %+v", engine, tid, c1, s1, c2, s2)
			}
		}
		_, err := fs.AllThreads(1 << 30)
		_, werr := pfs.AllThreads(1 << 30)
		if errKind(err) != errKind(werr) || err == nil {
			t.Errorf("%s: gone pid: %v, procfs %v", engine, err, werr)
		}
		_, err = fs.Thread(pid, 1<<30)
		_, werr = pfs.Thread(pid, 1<<30)
		_ = werr // procfs checks the task directory only
		if err != nil {
			t.Errorf("%s: Thread of a gone tid: %v (procfs: no error until read)", engine, err)
		}
	}
}
