package procuring

import (
	"reflect"
	"sync"

	"github.com/prometheus/procfs"
)

// This module requires the oldest procfs it supports (go.mod), so that adding it never raises
// a consumer's procfs or Go version; the consumer's build may select a newer procfs. Fields
// that newer procfs versions added to types this package fills are set by name, only when the
// selected procfs has them: the values stay identical to procfs's own of that version.

// statusCapNames are the ProcStatus capability fields (procfs v0.20.0 and later), in the order
// of setStatusCaps's argument.
var statusCapNames = [5]string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}

// statusCapFields holds the field index of each of statusCapNames in the selected procfs's
// ProcStatus, or -1 where it has no such uint64 field; looked up once.
var statusCapFields = sync.OnceValue(func() [5]int {
	t := reflect.TypeFor[procfs.ProcStatus]()
	var idx [5]int
	for i, name := range statusCapNames {
		idx[i] = -1
		if f, ok := t.FieldByName(name); ok && len(f.Index) == 1 && f.Type.Kind() == reflect.Uint64 {
			idx[i] = f.Index[0]
		}
	}
	return idx
})

// setStatusCaps sets CapInh, CapPrm, CapEff, CapBnd and CapAmb of st to caps, those the
// selected procfs has.
func setStatusCaps(st *procfs.ProcStatus, caps [5]uint64) {
	v := reflect.ValueOf(st).Elem()
	for i, f := range statusCapFields() {
		if f >= 0 {
			v.Field(f).SetUint(caps[i])
		}
	}
}
