package procuring

import (
	"go/constant"
	"go/token"
	"go/types"
	"os"
	"reflect"
	"regexp"
	"sort"
	"testing"

	"github.com/procuring/procuring/go/internal/apisurface"
	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

const procfsModule = "github.com/prometheus/procfs"

// newerThanRequired: API of procfs releases after the version go.mod requires. It cannot
// be mirrored without requiring such a release (v0.20 and later need a newer go line), so
// when the build selects a newer procfs (a user's go.mod, or a run with another -modfile)
// these are reported, not failed; anything else missing fails. With the required version
// selected, nothing may be missing.
var newerThanRequired = map[string]string{
	// /proc/sys/kernel/tainted, in v0.23.0 (checked against v0.23.0, the newest release).
	"FS.KernelTainted": "a release after v0.19.2",
	"KernelTaintBit":   "a release after v0.19.2",
	"KernelTainted":    "a release after v0.19.2",
}

func moduleDirOf(t *testing.T, fn any, module string) (dir, version string) {
	dir, version, err := apisurface.ModuleDirOf(fn, module)
	if err != nil {
		t.Fatal(err)
	}
	return dir, version
}

// requiredVersion is the procfs version go.mod requires.
func requiredVersion(t *testing.T) string {
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(procfsModule) + `\s+(v\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod does not require " + procfsModule)
	}
	return string(m[1])
}

// loadAPIs type-checks the selected procfs and this package (from source, cgo off: the
// exported API is the same with and without cgo).
func loadAPIs(t *testing.T) (pp, our *types.Package, version string) {
	t.Setenv("GOFLAGS", "") // the standard library's export data comes from go list in GOROOT
	procfsDir, version := moduleDirOf(t, procfs.NewFS, procfsModule)
	sysDir, _ := moduleDirOf(t, unix.Getpagesize, "golang.org/x/sys")
	wd, _ := os.Getwd()
	ld := apisurface.New(map[string]string{procfsModule: procfsDir, "golang.org/x/sys": sysDir})
	pp, err := ld.Import(procfsModule)
	if err != nil {
		t.Fatal(err)
	}
	our, err = ld.LoadDir("github.com/procuring/procuring/go", wd)
	if err != nil {
		t.Fatal(err)
	}
	return pp, our, version
}

// apiDiff lists, as "Name: problem" (methods as "Type.Method"), what of procfs's
// exported API is missing in our package or differs in signature.
func apiDiff(pp, our *types.Package) map[string]string {
	q := func(p *types.Package) string {
		if p == pp || p == our {
			return "procfs"
		}
		return p.Path()
	}
	str := func(t types.Type) string { return types.TypeString(t, q) }
	diff := map[string]string{}
	for _, o := range apisurface.Exported(pp) {
		name := o.Name()
		mine := our.Scope().Lookup(name)
		if mine == nil {
			diff[name] = "missing"
			continue
		}
		if reflect.TypeOf(mine) != reflect.TypeOf(o) {
			diff[name] = "a " + reflect.TypeOf(mine).String() + " here, a " + reflect.TypeOf(o).String() + " in procfs"
			continue
		}
		switch o := o.(type) {
		case *types.Const:
			m := mine.(*types.Const)
			if str(m.Type()) != str(o.Type()) || !constant.Compare(m.Val(), token.EQL, o.Val()) {
				diff[name] = "const " + str(m.Type()) + " " + m.Val().String() + ", procfs " + str(o.Type()) + " " + o.Val().String()
			}
		case *types.Var, *types.Func:
			if str(mine.Type()) != str(o.Type()) {
				diff[name] = str(mine.Type()) + ", procfs " + str(o.Type())
			}
		case *types.TypeName:
			m := mine.(*types.TypeName)
			if m.IsAlias() {
				if !types.Identical(types.Unalias(m.Type()), o.Type()) {
					diff[name] = "alias of " + types.TypeString(types.Unalias(m.Type()), nil)
				}
				continue
			}
			// A type defined here (FS, Proc, Procs, ProcStat): same kind, the exported
			// fields of procfs's struct, and every method (value and pointer sets).
			if ps, ok := o.Type().Underlying().(*types.Struct); ok {
				ms, ok := m.Type().Underlying().(*types.Struct)
				if !ok {
					diff[name] = "not a struct"
					continue
				}
				fields := map[string]string{}
				for i := range ms.NumFields() {
					fields[ms.Field(i).Name()] = str(ms.Field(i).Type())
				}
				for i := range ps.NumFields() {
					f := ps.Field(i)
					if f.Exported() && fields[f.Name()] != str(f.Type()) {
						diff[name+"."+f.Name()] = "field " + fields[f.Name()] + ", procfs " + str(f.Type())
					}
				}
			} else if str(o.Type().Underlying()) != str(m.Type().Underlying()) {
				diff[name] = "underlying " + str(m.Type().Underlying()) + ", procfs " + str(o.Type().Underlying())
			}
			for _, ptr := range []bool{false, true} {
				pt, mt := o.Type(), m.Type()
				if ptr {
					pt, mt = types.NewPointer(pt), types.NewPointer(mt)
				}
				pset, mset := types.NewMethodSet(pt), types.NewMethodSet(mt)
				for i := range pset.Len() {
					f := pset.At(i).Obj()
					if !f.Exported() {
						continue
					}
					key := name + "." + f.Name()
					sel := mset.Lookup(our, f.Name())
					switch {
					case sel == nil && !ptr:
						if types.NewMethodSet(types.NewPointer(m.Type())).Lookup(our, f.Name()) != nil {
							diff[key] = "pointer receiver here, value receiver in procfs"
						} else {
							diff[key] = "missing"
						}
					case sel == nil:
						diff[key] = "missing"
					case str(sel.Obj().Type()) != str(f.Type()):
						diff[key] = str(sel.Obj().Type()) + ", procfs " + str(f.Type())
					}
				}
			}
		}
	}
	return diff
}

// TestAPISurface: every exported function, method, type, constant and variable of the
// procfs the build selected exists here with the same signature, so that replacing the
// import path compiles any program that uses procfs.
func TestAPISurface(t *testing.T) {
	pp, our, version := loadAPIs(t)
	required := requiredVersion(t)
	diff := apiDiff(pp, our)
	var keys []string
	for k := range diff {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	newer := 0
	for _, k := range keys {
		if since, ok := newerThanRequired[k]; ok && version != required {
			t.Logf("procfs %s: %s: %s (added in %s, after the required %s: not mirrored)", version, k, diff[k], since, required)
			newer++
			continue
		}
		t.Errorf("procfs %s: %s: %s", version, k, diff[k])
	}
	t.Logf("procfs %s (go.mod requires %s): %d exported names compared, %d newer than required",
		version, required, len(apisurface.Exported(pp)), newer)
}
