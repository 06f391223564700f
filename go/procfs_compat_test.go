package procuring

import (
	"reflect"
	"testing"

	"github.com/prometheus/procfs"
)

// TestStatusCapsFollowSelectedProcfs: the capability fields of ProcStatus (procfs v0.20.0 and
// later) are set exactly when the procfs this build selected has them (make test runs the
// tests against v0.19.2, go.mod's, and the newest).
func TestStatusCapsFollowSelectedProcfs(t *testing.T) {
	var st procfs.ProcStatus
	setStatusCaps(&st, [5]uint64{1, 2, 3, 4, 5})
	v := reflect.ValueOf(st)
	n := 0
	for i, name := range statusCapNames {
		if f := v.FieldByName(name); f.IsValid() {
			n++
			if f.Uint() != uint64(i+1) {
				t.Errorf("%s = %d, want %d", name, f.Uint(), i+1)
			}
		}
	}
	t.Logf("the selected procfs's ProcStatus has %d of the 5 capability fields", n)
}
