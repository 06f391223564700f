package procuring

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/procfs"

	"github.com/procuring/procuring/go/internal/ttar"
)

var fixtures struct {
	once sync.Once
	dir  string
	err  error
}

// fixtureRoot extracts procfs's testdata/fixtures.ttar (from the module cache) once per
// test binary (TestMain removes it) and returns its fixtures/proc directory.
func fixtureRoot(t *testing.T) string {
	t.Helper()
	mod := procfsModuleDir(t)
	fixtures.once.Do(func() {
		dir, err := os.MkdirTemp("", "procuring-fixtures")
		if err != nil {
			fixtures.err = err
			return
		}
		fixtures.dir = dir
		fixtures.err = ttar.Extract(filepath.Join(mod, "testdata", "fixtures.ttar"), dir)
	})
	if fixtures.err != nil {
		t.Fatalf("extracting fixtures: %v", fixtures.err)
	}
	return filepath.Join(fixtures.dir, "fixtures", "proc")
}

// Known differences on the fixtures, where procfs's parser is laxer than the library's
// (our answer an error, never a different value), keyed by "pid/Method". procfs v0.23.0's
// fixtures need none: every value and error kind is equal. The malformed cases are in
// crafted_test.go.
var fixtureLaxer = map[string]string{}

func TestTTARExtract(t *testing.T) {
	root := fixtureRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "26231", "cmdline"))
	if err != nil || string(data) != "vim\x00test.go\x00+10\x00" {
		t.Fatalf("cmdline %q %v", data, err)
	}
	if l, err := os.Readlink(filepath.Join(root, "26231", "exe")); err != nil || l != "/usr/bin/vim" {
		t.Fatalf("exe %q %v", l, err)
	}
}

// TestFixturesDifferential compares every method for every pid of procfs's fixture tree,
// through listings and single Procs, for each engine.
func TestFixturesDifferential(t *testing.T) {
	root := fixtureRoot(t)
	pfs, err := procfs.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(root)
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	if len(pids) < 5 {
		t.Fatalf("only %d fixture pids", len(pids))
	}
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			fs := mustFS(t, root, engine)
			ps, err := fs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, p := range ps {
				got = append(got, p.PID)
			}
			theirs, _ := pfs.AllProcs()
			sort.Sort(theirs)
			var want []int
			for _, p := range theirs {
				want = append(want, p.PID)
			}
			if !equalInts(got, want) {
				t.Fatalf("AllProcs %v, procfs %v", got, want)
			}
			for i, pid := range pids {
				tp, _ := pfs.Proc(pid)
				single, err := fs.Proc(pid)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range []Proc{ps[i], single} {
					diffs, _ := diffProc(p, tp, exact)
					var unexpected []string
					for _, d := range diffs {
						if why, ok := fixtureLaxer[strconv.Itoa(pid)+"/"+strings.SplitN(d, ":", 2)[0]]; ok {
							t.Logf("pid %d: known difference (%s): %s", pid, why, d)
							continue
						}
						unexpected = append(unexpected, d)
					}
					if len(unexpected) > 0 {
						t.Errorf("pid %d: %s", pid, strings.Join(unexpected, "\n  "))
					}
				}
			}
			self, err := fs.Self()
			tself, err2 := pfs.Self()
			if errKind(err) != errKind(err2) || self.PID != tself.PID {
				t.Errorf("Self %d %v, procfs %d %v", self.PID, err, tself.PID, err2)
			}
			if _, err := fs.Proc(999999); !os.IsNotExist(err) {
				t.Errorf("Proc(999999): %v", err)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
