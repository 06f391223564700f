// Package apisurface type-checks packages from their source with go/types, for the
// generator of zz_generated_api.go (internal/apigen) and for the test that compares this
// package's exported API with procfs's (api_surface_test.go).
//
// Packages of the modules given to New (procfs, golang.org/x/sys, this module) are
// type-checked from their directories, with the files go/build selects for this GOOS and
// GOARCH and cgo off; the standard library comes from the toolchain's export data.
package apisurface

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
)

// Loader imports packages: those under a module of mods from source, the rest (the
// standard library) through the gc importer.
type Loader struct {
	Fset *token.FileSet
	mods map[string]string // module path -> directory
	ctx  build.Context
	std  types.Importer
	pkgs map[string]*types.Package
}

// New returns a Loader for the modules mods (module path -> directory).
func New(mods map[string]string) *Loader {
	ctx := build.Default
	ctx.CgoEnabled = false
	fset := token.NewFileSet()
	return &Loader{Fset: fset, mods: mods, ctx: ctx, std: importer.ForCompiler(fset, "gc", nil), pkgs: map[string]*types.Package{}}
}

// Import implements types.Importer.
func (l *Loader) Import(path string) (*types.Package, error) {
	if p, ok := l.pkgs[path]; ok {
		return p, nil
	}
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	best := ""
	for m := range l.mods {
		if (path == m || strings.HasPrefix(path, m+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best == "" {
		p, err := l.std.Import(path)
		if err == nil {
			l.pkgs[path] = p
		}
		return p, err
	}
	return l.LoadDir(path, filepath.Join(l.mods[best], strings.TrimPrefix(path, best)))
}

// LoadDir type-checks the package at dir (non-test files of this platform) as path.
func (l *Loader) LoadDir(path, dir string) (*types.Package, error) {
	bp, err := l.ctx.ImportDir(dir, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(l.Fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: l, FakeImportC: true}
	p, err := conf.Check(path, l.Fset, files, nil)
	if err != nil {
		return nil, fmt.Errorf("type-checking %s: %w", path, err)
	}
	l.pkgs[path] = p
	return p, nil
}

// ModuleDirs returns the directories of the modules the build of the module in dir
// selects (go list -m -json), by module path.
func ModuleDirs(dir string, paths ...string) (map[string]string, error) {
	cmd := exec.Command("go", append([]string{"list", "-m", "-json"}, paths...)...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m: %w", err)
	}
	dirs := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var m struct{ Path, Dir string }
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		if m.Dir == "" {
			return nil, fmt.Errorf("module %s is not downloaded (go mod download)", m.Path)
		}
		dirs[m.Path] = m.Dir
	}
	return dirs, nil
}

// Exported returns the exported objects of p's scope, sorted by name.
func Exported(p *types.Package) []types.Object {
	var out []types.Object
	for _, name := range p.Scope().Names() {
		if o := p.Scope().Lookup(name); o.Exported() {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// ModuleDirOf returns the directory and version of module, read from the source path of
// fn, a function of that module compiled into the running binary: the version the build
// selected, whatever go.mod or -modfile selected it (a test binary has no module list).
func ModuleDirOf(fn any, module string) (dir, version string, err error) {
	pc := reflect.ValueOf(fn).Pointer()
	file, _ := runtime.FuncForPC(pc).FileLine(pc)
	i := strings.Index(file, module+"@")
	if i < 0 {
		return "", "", fmt.Errorf("cannot find %s in the path of its source %q", module, file)
	}
	rest := file[i+len(module)+1:]
	version = rest[:strings.IndexByte(rest, '/')]
	dir = file[:i+len(module)+1+len(version)]
	if !filepath.IsAbs(dir) { // built with -trimpath
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return "", "", err
		}
		dir = filepath.Join(strings.TrimSpace(string(out)), dir)
	}
	return dir, version, nil
}
