// Package procfstests runs procfs's own tests against package procuring: the *_test.go files
// of procfs's root package (from the module cache of the procfs version the build selects,
// never copied into this repository) are copied to a temporary module whose package procfs is
// only a file of aliases to package procuring (so every unqualified NewFS, Proc, FS.Stat, ...
// of the tests is procuring's), procfs's testdata/fixtures.ttar is unpacked beside them, and
// `go test` runs there. Declarations of the test files that need procfs internals (unexported
// identifiers, struct fields, internal packages) cannot compile against another package: they
// are found by type-checking and left out, each with the reason (Port's Excluded).
package procfstests

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/procuring/procuring/go/internal/apisurface"
	"github.com/procuring/procuring/go/internal/ttar"
)

const ourPath = "github.com/procuring/procuring/go"

// Port is a prepared temporary module.
type Port struct {
	Dir      string
	Files    []string          // test files copied
	Excluded map[string]string // "file: decl" -> why
}

// Prepare writes the module into dir. mods: module path -> directory for procfs,
// golang.org/x/sys, github.com/google/go-cmp and this module (ourPath -> go/).
func Prepare(dir string, mods map[string]string, procfsVersion string) (*Port, error) {
	procfsDir := mods["github.com/prometheus/procfs"]
	ld := apisurface.New(map[string]string{
		"github.com/prometheus/procfs": procfsDir, "golang.org/x/sys": mods["golang.org/x/sys"],
		"github.com/google/go-cmp": mods["github.com/google/go-cmp"],
	})
	our, err := ld.LoadDir(ourPath, mods[ourPath])
	if err != nil {
		return nil, err
	}
	// The package: aliases of every exported name of package procuring.
	var al bytes.Buffer
	al.WriteString("// Package procfs is package procuring under procfs's name, for procfs's tests.\npackage procfs\n\nimport procuring \"" + ourPath + "\"\n\n")
	for _, name := range our.Scope().Names() {
		o := our.Scope().Lookup(name)
		if !o.Exported() {
			continue
		}
		switch o.(type) {
		case *types.TypeName:
			fmt.Fprintf(&al, "type %s = procuring.%s\n", name, name)
		case *types.Const:
			fmt.Fprintf(&al, "const %s = procuring.%s\n", name, name)
		case *types.Var, *types.Func:
			fmt.Fprintf(&al, "var %s = procuring.%s\n", name, name)
		}
	}
	p := &Port{Dir: dir, Excluded: map[string]string{}}
	if err := os.WriteFile(filepath.Join(dir, "procuring.go"), al.Bytes(), 0o644); err != nil {
		return nil, err
	}
	gomod := fmt.Sprintf("module procfsport\n\ngo 1.24.0\n\nrequire (\n\t%s v0.0.0\n\tgithub.com/prometheus/procfs %s\n)\n\nreplace %s => %s\n",
		ourPath, procfsVersion, ourPath, mods[ourPath])
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, err
	}
	var sum []byte
	for _, f := range []string{filepath.Join(mods[ourPath], "go.sum"), filepath.Join(procfsDir, "go.sum")} {
		b, _ := os.ReadFile(f)
		sum = append(sum, b...)
	}
	os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)

	// The test files, parsed.
	fset := token.NewFileSet()
	names, _ := filepath.Glob(filepath.Join(procfsDir, "*_test.go"))
	files := map[string]*ast.File{}
	for _, n := range names {
		if ok, _ := build.Default.MatchFile(procfsDir, filepath.Base(n)); !ok {
			continue // another GOOS/GOARCH
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Name.Name != "procfs" { // an external test package would import procfs itself
			p.Excluded[filepath.Base(n)+": whole file"] = "package " + f.Name.Name
			continue
		}
		files[filepath.Base(n)] = f
	}
	alf, err := parser.ParseFile(fset, filepath.Join(dir, "procuring.go"), al.Bytes(), 0)
	if err != nil {
		return nil, err
	}
	// Type-check; drop each top-level declaration with an error; repeat until none.
	for range 50 {
		var list []*ast.File
		keys := make([]string, 0, len(files))
		for k := range files {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			list = append(list, files[k])
		}
		var errs []types.Error
		conf := types.Config{Importer: ld, Error: func(e error) { errs = append(errs, e.(types.Error)) }}
		conf.Check("procfsport", fset, append(list, alf), nil)
		if len(errs) == 0 {
			break
		}
		changed := false
		for _, e := range errs {
			fname := filepath.Base(fset.Position(e.Pos).Filename)
			f := files[fname]
			if f == nil {
				continue
			}
			if strings.Contains(e.Msg, "declared and not used") || strings.Contains(e.Msg, "imported and not used") {
				if dropImport(f, e.Pos) {
					changed = true
					continue
				}
			}
			for i, d := range f.Decls {
				if d.Pos() <= e.Pos && e.Pos < d.End() {
					key := fname + ": " + declName(d)
					if _, ok := p.Excluded[key]; !ok {
						p.Excluded[key] = e.Msg
					}
					f.Decls = append(f.Decls[:i], f.Decls[i+1:]...)
					changed = true
					break
				}
			}
		}
		if !changed {
			return nil, fmt.Errorf("cannot prune: %v", errs[0])
		}
	}
	for name, f := range files {
		if !hasTest(f) && len(f.Decls) == 0 {
			p.Excluded[name+": whole file"] = "nothing left"
			continue
		}
		f.Comments = nil // comments of dropped declarations would land elsewhere
		var b bytes.Buffer
		if err := format.Node(&b, fset, f); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return nil, err
		}
		p.Files = append(p.Files, name)
	}
	sort.Strings(p.Files)
	return p, ttar.Extract(filepath.Join(procfsDir, "testdata", "fixtures.ttar"), filepath.Join(dir, "testdata"))
}

func hasTest(f *ast.File) bool {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Test") {
			return true
		}
	}
	return false
}

func dropImport(f *ast.File, pos token.Pos) bool {
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.IMPORT {
			continue
		}
		for i, s := range g.Specs {
			if s.Pos() <= pos && pos < s.End() {
				g.Specs = append(g.Specs[:i], g.Specs[i+1:]...)
				if len(g.Specs) == 0 {
					for j, d2 := range f.Decls {
						if d2 == g {
							f.Decls = append(f.Decls[:j], f.Decls[j+1:]...)
							break
						}
					}
				}
				f.Imports = nil
				return true
			}
		}
	}
	return false
}

func declName(d ast.Decl) string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		return d.Name.Name
	case *ast.GenDecl:
		var n []string
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.ValueSpec:
				for _, id := range s.Names {
					n = append(n, id.Name)
				}
			case *ast.TypeSpec:
				n = append(n, s.Name.Name)
			}
		}
		return d.Tok.String() + " " + strings.Join(n, ", ")
	}
	return "?"
}
