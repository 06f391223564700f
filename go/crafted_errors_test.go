package procuring

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/prometheus/procfs"
)

// errorCases: malformed files for which procfs also fails (or, for schedstat with extra
// lines, returns the first line's values). The error must be procfs's, of the same kind
// (errors.Is with procfs.ErrFileParse exactly when procfs's is).
var errorCases = []struct {
	what  string
	files map[string]string
}{
	{"truncated stat", map[string]string{"stat": "7 (x) S 1 2 3\n"}},
	{"stat without parentheses", map[string]string{"stat": "7 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21\n"}},
	{"io missing a key", map[string]string{"io": "rchar: 1\nwchar: 2\n"}},
	{"io not numbers", map[string]string{"io": "rchar: x\n"}},
	{"cgroup line without fields", map[string]string{"cgroup": "0::/ok\nbad\n"}},
	{"cgroup hierarchy id", map[string]string{"cgroup": "x::/\n"}},
	{"schedstat garbage", map[string]string{"schedstat": "a b c\n"}},
	{"schedstat two numbers", map[string]string{"schedstat": "1 2\n"}},
	{"schedstat overflow", map[string]string{"schedstat": "99999999999999999999 1 1\n"}},
	{"schedstat extra line", map[string]string{"schedstat": "123 456 789\n10 11\n"}},
	{"schedstat extra fields and text", map[string]string{"schedstat": "x 1 2 3\t4\n"}},
	{"status NSpid", map[string]string{"status:NSpid": "1\tx"}},
}

func TestCraftedErrors(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "stat"), []byte("cpu  1 2 3 4 5 6 7 8 9 10\nbtime 1700000000\n"), 0o644)
	for i, c := range errorCases {
		pid := 200 + i
		writeCrafted(t, root, pid, craftedCase{what: c.what, files: c.files})
		sched := "1 2 3\n"
		if v, ok := c.files["schedstat"]; ok {
			sched = v
		}
		os.WriteFile(filepath.Join(root, strconv.Itoa(pid), "schedstat"), []byte(sched), 0o644)
	}
	pfs, err := procfs.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range append(engines(), EngineProcfs) {
		t.Run(engine, func(t *testing.T) {
			fs := mustFS(t, root, engine)
			ps, err := fs.AllProcs()
			if err != nil || len(ps) != len(errorCases) {
				t.Fatalf("%d procs, %v", len(ps), err)
			}
			for i, c := range errorCases {
				single, _ := fs.Proc(200 + i)
				tp, _ := pfs.Proc(200 + i)
				for _, p := range []Proc{ps[i], single} {
					type call struct {
						name      string
						ours, ref func() (any, error)
					}
					calls := []call{
						{"Stat", func() (any, error) { s, err := p.Stat(); s.fs = procfs.FS{}; return s, err },
							func() (any, error) { s, err := tp.Stat(); return statFromProcfs(s, procfs.FS{}), err }},
						{"NewStatus", func() (any, error) { return p.NewStatus() }, func() (any, error) { return tp.NewStatus() }},
						{"IO", func() (any, error) { return p.IO() }, func() (any, error) { return tp.IO() }},
						{"Schedstat", func() (any, error) { return p.Schedstat() }, func() (any, error) { return tp.Schedstat() }},
						{"Cgroups", func() (any, error) { return p.Cgroups() }, func() (any, error) { return tp.Cgroups() }},
					}
					for _, cl := range calls {
						v, err := cl.ours()
						w, werr := cl.ref()
						switch {
						case (err == nil) != (werr == nil):
							t.Errorf("%s: %s: error %v, procfs %v", c.what, cl.name, err, werr)
						case err != nil && (errors.Is(err, procfs.ErrFileParse) != errors.Is(werr, procfs.ErrFileParse) || err.Error() != werr.Error()):
							t.Errorf("%s: %s: error %q, procfs %q", c.what, cl.name, err, werr)
						case err == nil && !reflect.DeepEqual(v, w):
							t.Errorf("%s: %s: %+v, procfs %+v", c.what, cl.name, v, w)
						}
					}
				}
			}
		})
	}
}
