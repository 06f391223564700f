package procuring

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/prometheus/procfs"
)

// TestParseCgroupsLikeProcfs compares parseCgroups with procfs's parser (through a cgroup
// file in a proc tree): same Cgroups, or both an ErrFileParse.
func TestParseCgroupsLikeProcfs(t *testing.T) {
	self, _ := os.ReadFile("/proc/self/cgroup")
	cases := []string{
		"", "\n", "\r\n", "\n\n", "0::/\n", "0::/", "0::/\r", "12:cpu,cpuacct:/a:b\r\n3:name=systemd:/\n0::/x y\n",
		"1:a,,b:/p\n", "1:,:/p\n", "1:a,:/p\n", "x::/\n", "1:a\n", "1\n", "1:a:/b\n\n2:c:/d\n", ":::\n",
		"1:a:b:c:d\n", "-1:a:/\n", "+1:a:/\n", " 1:a:/\n", "1:a,b,c,d,e,f,g,h:/\n2:x:/\n0::/last",
		"1:a:/\n2:b:/\n3:c,d:/\n4::/\n", string(self),
	}
	root := t.TempDir()
	dir := filepath.Join(root, "1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pfs, err := procfs.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		pp, err := pfs.Proc(1)
		if err != nil {
			t.Fatal(err)
		}
		want, e2 := pp.Cgroups()
		got, e1 := parseCgroups(c)
		if (e1 == nil) != (e2 == nil) || (e1 != nil && (!errors.Is(e1, ErrFileParse) || !errors.Is(e2, ErrFileParse))) {
			t.Errorf("%q: error %v, procfs %v", c, e1, e2)
			continue
		}
		if e1 == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %#v, procfs %#v", c, got, want)
		}
	}
	// The Controllers of the lines share one array: appending to one must not change the next.
	cg, _ := parseCgroups("1:a,b:/\n2:c,d:/\n")
	_ = append(cg[0].Controllers, "x")
	if !reflect.DeepEqual(cg[1].Controllers, []string{"c", "d"}) {
		t.Errorf("append to one line's Controllers changed the next: %q", cg[1].Controllers)
	}
}
