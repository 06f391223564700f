package readers_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/procuring/procuring/go/internal/readers"
	"github.com/procuring/procuring/go/internal/readers/procfsreader"
	"github.com/procuring/procuring/go/internal/readers/procuringreader"
	"github.com/procuring/procuring/go/internal/ttar"
)

// TestOneSource: procuringreader is procfsreader with only the import line (and the
// package clause) changed.
func TestOneSource(t *testing.T) {
	for _, f := range []string{"kepler.go", "exporter.go"} {
		src, err := os.ReadFile(filepath.Join("procfsreader", f))
		if err != nil {
			t.Fatal(err)
		}
		src = append([]byte("\n"), src...)
		want := bytes.Replace(src, []byte("\nimport \"github.com/prometheus/procfs\"\n"), []byte("\nimport procfs \"github.com/procuring/procuring/go\"\n"), 1)
		want = bytes.Replace(want, []byte("\npackage procfsreader\n"), []byte("\npackage procuringreader\n"), 1)
		want = want[1:]
		got, err := os.ReadFile(filepath.Join("procuringreader", f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("procuringreader/%s is not procfsreader/%s with the import swapped: run go generate in internal/readers", f, f)
		}
	}
}

func fixtures(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/procfs").Output()
	if err != nil {
		t.Skipf("go list -m: %v", err)
	}
	dir := t.TempDir()
	if err := ttar.Extract(filepath.Join(strings.TrimSpace(string(out)), "testdata", "fixtures.ttar"), dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "fixtures", "proc")
}

func TestReadersOnFixtures(t *testing.T) {
	root := fixtures(t)
	// AllProcs lists in directory order in procfs, ascending here: compared by pid.
	want, err := procfsreader.Kepler(root)
	got, err2 := procuringreader.Kepler(root)
	for _, s := range [][]readers.KeplerProc{want.Procs, got.Procs} {
		sort.Slice(s, func(i, j int) bool { return s[i].PID < s[j].PID })
	}
	if readers.Err(err) != readers.Err(err2) || !reflect.DeepEqual(got, want) {
		t.Errorf("Kepler on fixtures:\n got %+v %v\nwant %+v %v", got, err2, want, err)
	}
	if len(want.Procs) < 3 {
		t.Errorf("only %d fixture processes", len(want.Procs))
	}
	pw, err := procfsreader.Exporter(root, true)
	pg, err2 := procuringreader.Exporter(root, true)
	for _, s := range [][]readers.ExporterProc{pw.Procs, pg.Procs} {
		sort.Slice(s, func(i, j int) bool { return s[i].PID < s[j].PID })
		for _, p := range s {
			sort.Slice(p.Threads, func(i, j int) bool { return p.Threads[i].PID < p.Threads[j].PID })
		}
	}
	if readers.Err(err) != readers.Err(err2) || !reflect.DeepEqual(pg, pw) {
		t.Errorf("process-exporter on fixtures:\n got %+v %v\nwant %+v %v", pg, err2, pw, err)
	}
}

// kids starts n idle children and a churn of short-lived ones (processes created and
// gone between the listing and the reads); both end with the test.
func kids(t *testing.T, n int) map[int]bool {
	pids := map[int]bool{}
	for range n {
		c := exec.Command("sleep", "600")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Skip(err)
		}
		pids[c.Process.Pid] = true
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c := exec.Command("sh", "-c", "sleep 0.01")
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if c.Start() == nil {
				c.Wait()
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
	time.Sleep(100 * time.Millisecond) // the children have exec'd sleep
	return pids
}

// TestReadersLive: on the live /proc with churning children, both readers succeed and
// give equal answers for every idle child (whose values do not move between the reads).
func TestReadersLive(t *testing.T) {
	pids := kids(t, 40)
	for round := range 3 {
		got, err := procuringreader.Kepler("/proc")
		if err != nil {
			t.Fatal(err)
		}
		want, err := procfsreader.Kepler("/proc")
		if err != nil {
			t.Fatal(err)
		}
		compare(t, "Kepler", round, pids, index(got.Procs, func(p readers.KeplerProc) int { return p.PID }),
			index(want.Procs, func(p readers.KeplerProc) int { return p.PID }))
		eg, err := procuringreader.Exporter("/proc", true)
		if err != nil {
			t.Fatal(err)
		}
		ew, err := procfsreader.Exporter("/proc", true)
		if err != nil {
			t.Fatal(err)
		}
		if eg.BootTime != ew.BootTime {
			t.Errorf("BootTime %d, procfs %d", eg.BootTime, ew.BootTime)
		}
		// Pss divides shared pages among the processes mapping them: it moves with the
		// churning children between the two reads.
		for _, sc := range []*readers.ExporterScan{&eg, &ew} {
			for i := range sc.Procs {
				sc.Procs[i].Pss = 0
			}
		}
		compare(t, "process-exporter", round, pids, index(eg.Procs, func(p readers.ExporterProc) int { return p.PID }),
			index(ew.Procs, func(p readers.ExporterProc) int { return p.PID }))
	}
}

func index[T any](v []T, pid func(T) int) map[int]T {
	m := map[int]T{}
	for _, x := range v {
		m[pid(x)] = x
	}
	return m
}

func compare[T any](t *testing.T, what string, round int, pids map[int]bool, got, want map[int]T) {
	t.Helper()
	for pid := range pids {
		g, ok1 := got[pid]
		w, ok2 := want[pid]
		if !ok1 || !ok2 {
			t.Errorf("%s round %d: child %d listed: procuring %v, procfs %v", what, round, pid, ok1, ok2)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s round %d: child %d:\n got %+v\nwant %+v", what, round, pid, g, w)
		}
	}
}
