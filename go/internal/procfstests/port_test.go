package procfstests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/procuring/procuring/go/internal/apisurface"
	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// TestProcfsOwnTests runs procfs's root-package tests against package procuring (see the
// package documentation), with the cgo engines or CGO_ENABLED=0 as this test runs.
func TestProcfsOwnTests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test in a temporary module")
	}
	// The type-checker and the go commands below run outside this module: a -modfile in
	// GOFLAGS (make test-go-newest) would make them fail; the modules are passed explicitly.
	var flags []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if !strings.HasPrefix(f, "-modfile") {
			flags = append(flags, f)
		}
	}
	t.Setenv("GOFLAGS", strings.Join(flags, " "))
	ourDir, _ := filepath.Abs("../..")
	// The modules this test binary was built with (the selected versions, also under
	// another -modfile): procfs, x/sys and go-cmp (which procfs's tests use).
	mods := map[string]string{ourPath: ourDir}
	var ver string
	for _, m := range []struct {
		fn   any
		path string
	}{{procfs.NewFS, "github.com/prometheus/procfs"}, {unix.Getpagesize, "golang.org/x/sys"}} {
		dir, v, err := apisurface.ModuleDirOf(m.fn, m.path)
		if err != nil {
			t.Fatal(err)
		}
		mods[m.path] = dir
		if m.path == "github.com/prometheus/procfs" {
			ver = v
		}
	}
	cmpDir, err := goCmpDir(mods["github.com/prometheus/procfs"])
	if err != nil {
		t.Skip(err)
	}
	mods["github.com/google/go-cmp"] = cmpDir
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
		t.Logf("excluded (does not compile against procuring: procfs internals, or API newer than required) %s: %s", k, p.Excluded[k])
	}
	t.Logf("procfs %s: %d test files ported: %s", ver, len(p.Files), strings.Join(p.Files, " "))
	cmd := exec.Command("go", "test", "-count=1", "-v", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("procfs's tests against procuring: %v\n%s", err, out)
	}
	passed := strings.Count(string(out), "--- PASS: ")
	if passed == 0 || strings.Contains(string(out), "--- FAIL: ") {
		t.Fatalf("%d procfs tests passed:\n%s", passed, out)
	}
	t.Logf("%d of procfs's tests (subtests included) passed against procuring", passed)
}

// goCmpDir is the directory of the go-cmp version procfs's go.mod requires (its tests use
// it; this module does not), downloaded when missing.
func goCmpDir(procfsDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procfsDir, "go.mod"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`github.com/google/go-cmp (v\S+)`).FindSubmatch(b)
	if m == nil {
		return "", errors.New("procfs's go.mod does not require go-cmp")
	}
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/google/go-cmp@"+string(m[1]))
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download go-cmp: %w", err)
	}
	var d struct{ Dir string }
	if err := json.Unmarshal(out, &d); err != nil || d.Dir == "" {
		return "", fmt.Errorf("go mod download go-cmp: %s", out)
	}
	return d.Dir, nil
}
