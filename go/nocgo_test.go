//go:build !cgo

package procuring

import (
	"strings"
	"testing"
)

// TestEngineWithoutCgo: built without cgo, the package is procfs underneath and says so;
// forcing a library engine is an error, never silently procfs.
func TestEngineWithoutCgo(t *testing.T) {
	t.Setenv(EnvEngine, "")
	fs, err := NewDefaultFS()
	if err != nil {
		t.Fatal(err)
	}
	if name, reason := fs.Engine(); name != EngineProcfs || reason != "built without cgo" {
		t.Fatalf("engine %q (%q), want procfs (built without cgo)", name, reason)
	}
	for _, e := range []string{EngineURing, EngineSync} {
		if _, err := NewFSWithOptions("/proc", Options{Engine: e}); err == nil || !strings.Contains(err.Error(), "cgo") {
			t.Errorf("forced %s without cgo: %v", e, err)
		}
	}
	fs, err = NewFSWithOptions("/proc", Options{Engine: EngineProcfs})
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := fs.Engine(); name != EngineProcfs {
		t.Fatal(name)
	}
	if fs.ScanCount() != 0 {
		t.Fatal("scans without a library")
	}
}
