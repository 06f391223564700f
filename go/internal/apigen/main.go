// Command apigen writes zz_generated_api.go: the part of procfs's exported API that this
// package mirrors mechanically. Run through `go generate` in go/ (see api.go).
//
// It type-checks the procfs package that the build selects (go list -m) and, for every
// exported name of procfs that the hand-written files of the package do not declare,
// writes:
//   - a type alias (type X = procfs.X) for a type;
//   - a constant or variable with procfs's value;
//   - a function that calls procfs's;
//   - for a method of a type this package defines itself (FS, Proc), a method that calls
//     procfs's on the same mount point (FS: fs.pfs; Proc: p.Procfs()).
//
// A function or method whose signature mentions a type this package defines itself (FS,
// Proc, Procs, ProcStat) cannot be delegated: apigen fails and names it, to be written by
// hand.
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/procuring/procuring/go/internal/apisurface"
)

const procfsPath = "github.com/prometheus/procfs"

const outName = "zz_generated_api.go"

// receivers: types defined here whose missing methods delegate, and how to reach procfs's
// value of the same receiver.
var receivers = map[string]struct{ recv, target string }{
	"FS":   {"fs", "fs.pfs"},
	"Proc": {"p", "p.Procfs()"},
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("apigen: ")
	dirs, err := apisurface.ModuleDirs(".", procfsPath, "golang.org/x/sys")
	if err != nil {
		log.Fatal(err)
	}
	ld := apisurface.New(dirs)
	pp, err := ld.Import(procfsPath)
	if err != nil {
		log.Fatal(err)
	}
	names, aliases, methods := handWritten(".")
	// own: procfs types that this package defines itself (not as an alias).
	own := map[string]bool{}
	for _, o := range apisurface.Exported(pp) {
		if _, ok := o.(*types.TypeName); ok && names[o.Name()] && !aliases[o.Name()] {
			own[o.Name()] = true
		}
	}
	imports := map[string]string{procfsPath: "procfs"}
	qual := func(p *types.Package) string {
		if p == pp {
			return ""
		}
		imports[p.Path()] = p.Name()
		return p.Name()
	}
	mentionsOwn := func(t types.Type) bool {
		found := false
		var walk func(t types.Type)
		seen := map[types.Type]bool{}
		walk = func(t types.Type) {
			if found || seen[t] {
				return
			}
			seen[t] = true
			switch t := t.(type) {
			case *types.Named:
				if t.Obj().Pkg() == pp && own[t.Obj().Name()] {
					found = true
				}
			case *types.Alias:
				walk(types.Unalias(t))
			case *types.Pointer:
				walk(t.Elem())
			case *types.Slice:
				walk(t.Elem())
			case *types.Array:
				walk(t.Elem())
			case *types.Map:
				walk(t.Key())
				walk(t.Elem())
			case *types.Chan:
				walk(t.Elem())
			case *types.Signature:
				walk(t.Params())
				walk(t.Results())
			case *types.Tuple:
				for i := range t.Len() {
					walk(t.At(i).Type())
				}
			}
		}
		walk(t)
		return found
	}

	var types_, consts, vars, funcs bytes.Buffer
	var handNeeded []string
	for _, o := range apisurface.Exported(pp) {
		name := o.Name()
		switch o := o.(type) {
		case *types.TypeName:
			if names[name] {
				continue
			}
			if o.IsAlias() || (o.Type().(*types.Named).TypeParams().Len() > 0) {
				handNeeded = append(handNeeded, "type "+name+" (alias or generic)")
				continue
			}
			fmt.Fprintf(&types_, "\t%s = procfs.%s\n", name, name)
		case *types.Const:
			if !names[name] {
				fmt.Fprintf(&consts, "\t%s = procfs.%s\n", name, name)
			}
		case *types.Var:
			if !names[name] {
				fmt.Fprintf(&vars, "\t%s = procfs.%s\n", name, name)
			}
		case *types.Func:
			if names[name] {
				continue
			}
			sig := o.Type().(*types.Signature)
			if mentionsOwn(sig) {
				handNeeded = append(handNeeded, "func "+name)
				continue
			}
			fmt.Fprintf(&funcs, "// %s calls procfs.%s.\nfunc %s%s {\n\t%sprocfs.%s(%s)\n}\n\n",
				name, name, name, strings.TrimPrefix(types.TypeString(sig, qual), "func"), ret(sig), name, args(sig))
		}
	}
	// Methods of the types defined here: what procfs has and the hand-written files do not.
	var typeNames []string
	for n := range own {
		typeNames = append(typeNames, n)
	}
	sort.Strings(typeNames)
	for _, tn := range typeNames {
		named := pp.Scope().Lookup(tn).Type().(*types.Named)
		ms := types.NewMethodSet(types.NewPointer(named))
		var ids []*types.Func
		for i := range ms.Len() {
			if f := ms.At(i).Obj().(*types.Func); f.Exported() && !methods[tn][f.Name()] {
				ids = append(ids, f)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i].Name() < ids[j].Name() })
		for _, f := range ids {
			r, ok := receivers[tn]
			sig := f.Type().(*types.Signature)
			if !ok || mentionsOwn(sig) {
				handNeeded = append(handNeeded, fmt.Sprintf("method (%s) %s", tn, f.Name()))
				continue
			}
			plain := types.NewSignatureType(nil, nil, nil, sig.Params(), sig.Results(), sig.Variadic())
			fmt.Fprintf(&funcs, "// %s calls procfs's %s.%s on the same mount point.\nfunc (%s %s) %s%s {\n\t%s%s.%s(%s)\n}\n\n",
				f.Name(), tn, f.Name(), r.recv, tn, f.Name(), strings.TrimPrefix(types.TypeString(plain, qual), "func"),
				ret(sig), r.target, f.Name(), args(sig))
		}
	}
	if len(handNeeded) > 0 {
		log.Fatalf("write these by hand (they take or return a type defined here):\n\t%s", strings.Join(handNeeded, "\n\t"))
	}

	var out bytes.Buffer
	fmt.Fprintf(&out, "// Code generated by internal/apigen from %s; DO NOT EDIT.\n\n", pp.Path()+" "+versionOf(dirs[procfsPath]))
	out.WriteString("// The mechanical part of the procfs API: aliases of procfs's types, its constants and\n")
	out.WriteString("// variables, and functions and methods that call procfs's on the same mount point.\n")
	out.WriteString("// What this package does itself (batched reads of the process files, threads, FS and\n")
	out.WriteString("// Proc) is in the hand-written files; `go generate` rewrites this one.\n\n")
	out.WriteString("//lint:file-ignore SA1019 procfs's API is mirrored whole, its deprecated parts included.\n\n")
	out.WriteString("package procuring\n\nimport (\n")
	var paths []string
	for p := range imports {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(&out, "\t%q\n", p)
	}
	out.WriteString(")\n\n")
	fmt.Fprintf(&out, "// Types of procfs, the same types.\ntype (\n%s)\n\n", types_.String())
	if consts.Len() > 0 {
		fmt.Fprintf(&out, "// Constants of procfs.\nconst (\n%s)\n\n", consts.String())
	}
	if vars.Len() > 0 {
		fmt.Fprintf(&out, "// Variables of procfs, the same values.\nvar (\n%s)\n\n", vars.String())
	}
	out.Write(funcs.Bytes())
	src, err := format.Source(out.Bytes())
	if err != nil {
		log.Fatalf("%v\n%s", err, out.Bytes())
	}
	if err := os.WriteFile(outName, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func ret(sig *types.Signature) string {
	if sig.Results().Len() > 0 {
		return "return "
	}
	return ""
}

func args(sig *types.Signature) string {
	var a []string
	for i := range sig.Params().Len() {
		n := sig.Params().At(i).Name()
		if i == sig.Params().Len()-1 && sig.Variadic() {
			n += "..."
		}
		a = append(a, n)
	}
	return strings.Join(a, ", ")
}

func versionOf(dir string) string {
	if i := strings.LastIndex(dir, "@"); i >= 0 {
		return dir[i+1:]
	}
	return "(" + dir + ")"
}

// handWritten returns the top-level names, those of them that are type aliases, and the
// methods (by receiver type) declared by the non-test, non-generated Go files of dir.
func handWritten(dir string) (map[string]bool, map[string]bool, map[string]map[string]bool) {
	names := map[string]bool{}
	aliases := map[string]bool{}
	methods := map[string]map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	fset := token.NewFileSet()
	for _, fn := range files {
		if strings.HasSuffix(fn, "_test.go") || strings.HasPrefix(filepath.Base(fn), "zz_generated") {
			continue
		}
		f, err := parser.ParseFile(fset, fn, nil, parser.SkipObjectResolution)
		if err != nil {
			log.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names[d.Name.Name] = true
					continue
				}
				t := d.Recv.List[0].Type
				if s, ok := t.(*ast.StarExpr); ok {
					t = s.X
				}
				if id, ok := t.(*ast.Ident); ok {
					if methods[id.Name] == nil {
						methods[id.Name] = map[string]bool{}
					}
					methods[id.Name][d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
						aliases[s.Name.Name] = s.Assign.IsValid()
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	return names, aliases, methods
}
