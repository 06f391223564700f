package procuring

import (
	"errors"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// TestScanAPI: FS.Scan returns the values the Proc methods return.
func TestScanAPI(t *testing.T) {
	kids := startKids(t)
	for _, engine := range append(liveEngines(), EngineProcfs) {
		t.Run(engine, func(t *testing.T) {
			fs := mustFS(t, "/proc", engine)
			recs, err := fs.Scan(FileStatus, FileIO, FileComm, FileCmdline, FileExe, FileCgroup, FileEnviron, FileSchedstat)
			if err != nil {
				t.Fatal(err)
			}
			if !sort.SliceIsSorted(recs, func(i, j int) bool { return recs[i].PID < recs[j].PID }) {
				t.Error("records not ascending")
			}
			seen := 0
			for i := range recs {
				r := &recs[i]
				if _, ok := kids.pids[r.PID]; !ok {
					continue
				}
				seen++
				p, err := fs.Proc(r.PID)
				if err != nil {
					t.Fatal(err)
				}
				st, e0 := p.Stat()
				status, e1 := p.NewStatus()
				io, e2 := p.IO()
				comm, e3 := p.Comm()
				cl, e4 := p.CmdLine()
				exe, e5 := p.Executable()
				cg, e6 := p.Cgroups()
				env, e7 := p.Environ()
				sched, e8 := p.Schedstat()
				errs := []error{e0, e1, e2, e3, e4, e5, e6, e7, e8}
				got := []any{r.Stat, r.Status, r.IO, r.Comm, r.CmdLine, r.Executable, r.Cgroups, r.Environ, r.Schedstat}
				want := []any{st, status, io, comm, cl, exe, cg, env, sched}
				for f := range numFiles {
					if errKind(r.Err(f)) != errKind(errs[f]) || r.Has(f) != (errs[f] == nil) {
						t.Errorf("pid %d (%s) %s: error %v, method %v", r.PID, kids.pids[r.PID], f, r.Err(f), errs[f])
					}
					if errs[f] == nil && !reflect.DeepEqual(got[f], want[f]) {
						t.Errorf("pid %d (%s) %s: %#v, want %#v", r.PID, kids.pids[r.PID], f, got[f], want[f])
					}
				}
				if kids.pids[r.PID] != "zombie" && len(r.Files()) != NumFiles {
					t.Errorf("Files %v", r.Files())
				}
			}
			if seen != len(kids.pids) {
				t.Errorf("saw %d of %d children", seen, len(kids.pids))
			}
		})
	}
}

// TestProcfsBridge: Proc.Procfs is a working procfs.Proc of the same process, even for a
// pid that is gone.
func TestProcfsBridge(t *testing.T) {
	if !procfsLayoutOK {
		t.Error("procfs.Proc layout changed: Procfs() falls back to FS.Proc")
	}
	for _, engine := range append(liveEngines(), EngineProcfs) {
		fs := mustFS(t, "/proc", engine)
		self, err := fs.Self()
		if err != nil {
			t.Fatal(err)
		}
		pp := self.Procfs()
		want, _ := procfs.Self()
		if !reflect.DeepEqual(pp, want) {
			t.Errorf("%s: Procfs() = %+v, procfs.Self() = %+v", engine, pp, want)
		}
		if limits, err := pp.Limits(); err != nil || limits.OpenFiles == 0 {
			t.Errorf("Limits through Procfs(): %+v %v", limits, err)
		}
		gone := Proc{PID: 1 << 30, l: self.l}
		if _, err := gone.Procfs().Stat(); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("gone pid through Procfs(): %v", err)
		}
	}
	// A Proc literal (no FS) behaves like a procfs.Proc literal.
	var zero Proc
	if _, err := zero.Stat(); err == nil {
		t.Error("zero Proc: no error")
	}
}

func TestProcsSort(t *testing.T) {
	ps := Procs{{PID: 3}, {PID: 1}, {PID: 2}}
	sort.Sort(ps)
	if ps[0].PID != 1 || ps[2].PID != 3 {
		t.Fatal(ps)
	}
}

func TestParsers(t *testing.T) {
	if v := splitCmdline("a\x00\x00b\x00\x00"); !reflect.DeepEqual(v, []string{"a", "", "b"}) {
		t.Errorf("cmdline %q", v)
	}
	if v := splitCmdline(""); v == nil || len(v) != 0 {
		t.Errorf("empty cmdline %#v", v)
	}
	if v := splitEnviron("A=1\x00\x00"); !reflect.DeepEqual(v, []string{"A=1", ""}) {
		t.Errorf("environ %q", v)
	}
	if v := parseCPUList("0-2, 5,8-9"); !reflect.DeepEqual(v, []uint64{0, 1, 2, 5, 8, 9}) {
		t.Errorf("cpus %v", v)
	}
	if _, err := parseNSpids("1\tx"); err == nil {
		t.Error("nspids: no error")
	}
	cg, err := parseCgroups("12:cpu,cpuacct:/a:b\r\n0::/\n")
	if err != nil || len(cg) != 2 || cg[0].Path != "/a:b" || len(cg[0].Controllers) != 2 || cg[1].Controllers != nil {
		t.Errorf("cgroups %+v %v", cg, err)
	}
	if _, err := parseCgroups("x::/\n"); !errors.Is(err, ErrFileParse) {
		t.Errorf("cgroups error %v", err)
	}
	if statusValue(" foo kB \n") != "foo" || trimComm("a \u00a0\n") != "a" {
		t.Error("trim")
	}
	if s := File(99).String(); !strings.Contains(s, "99") || FileEnviron.String() != "environ" {
		t.Error(s)
	}
}
