package procfstests

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/procuring/procuring/go/internal/apisurface"
)

// TestProcfsOwnTests runs procfs's root-package tests against package procuring (see the
// package documentation), with the cgo engines or CGO_ENABLED=0 as this test runs.
func TestProcfsOwnTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in a temporary module")
	}
	ourDir, _ := filepath.Abs("../..")
	mods, err := apisurface.ModuleDirs(ourDir, "github.com/prometheus/procfs", "golang.org/x/sys", "github.com/google/go-cmp")
	if err != nil {
		t.Skip(err)
	}
	mods[ourPath] = ourDir
	ver := mods["github.com/prometheus/procfs"]
	ver = ver[strings.LastIndex(ver, "@")+1:]
	dir := t.TempDir()
	p, err := Prepare(dir, mods, ver)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range p.Excluded {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("excluded (needs procfs internals) %s: %s", k, p.Excluded[k])
	}
	t.Logf("procfs %s: %d test files ported: %s", ver, len(p.Files), strings.Join(p.Files, " "))
	cmd := exec.Command("go", "test", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("procfs's tests against procuring: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
