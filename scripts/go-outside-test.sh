#!/usr/bin/env bash
# The Go package as a user gets it, outside this repository: a temporary directory holding only
# a copy of go/ (the module, with its prebuilt archive in lib/) and a small program importing it
# through a replace directive, built on a PATH without cargo, rustc or cbindgen.
#   - cgo (default): links go/lib/linux_amd64/libprocuring.a statically, runs on the library's
#     engine; the binary has no RUNPATH/RPATH and no libprocuring.so dependency; the same
#     from a `go mod vendor` tree.
#   - CGO_ENABLED=0, and GOARCH=arm64 (CGO_ENABLED=0; with cgo too when a cross compiler is
#     installed): builds, falls back to procfs with a reason.
#   - A module whose go.mod says `go 1.24.0` and requires procfs v0.19.2 (like Kepler's) adds
#     the package with `go get` and keeps its go line and procfs version (GOTOOLCHAIN=local).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "go-outside-test: $*" >&2; exit 1; }
[ -f go/lib/linux_amd64/libprocuring.a ] || fail "go/lib/linux_amd64/libprocuring.a is missing: run make go-archive"

go=$(command -v "${GO:-go}")
gobin=$(dirname "$(readlink -f "$go")")
# A PATH with Go and the system's tools (compiler, linker, readelf) and no Rust toolchain.
mkdir "$tmp/bin"
ln -s "$gobin/go" "$tmp/bin/go"
export PATH=$tmp/bin:/usr/bin:/bin
for tool in cargo rustc cbindgen; do
	! command -v "$tool" >/dev/null || fail "$tool is on PATH ($(command -v "$tool"))"
done
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
unset CGO_CFLAGS CGO_LDFLAGS PKG_CONFIG_PATH

cp -r go "$tmp/procuring"
mkdir "$tmp/app"
cd "$tmp/app"
cat > go.mod <<'MOD'
module example.com/app

go 1.24.0

require github.com/procuring/procuring/go v0.0.0

replace github.com/procuring/procuring/go => ../procuring
MOD
cat > main.go <<'GO'
package main

import (
	"fmt"
	"os"

	procfs "github.com/procuring/procuring/go"
)

func main() {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	procs, err := fs.AllProcs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n := 0
	for _, p := range procs {
		if _, err := p.Stat(); err == nil {
			n++
		}
	}
	name, reason := fs.Engine()
	fmt.Printf("%s\t%s\t%d\n", name, reason, n)
}
GO
go mod tidy
t0=$(date +%s%N)
go build -o app-cgo .
echo "go-outside-test: cgo build $((($(date +%s%N) - t0) / 1000000)) ms, binary $(stat -c %s app-cgo) bytes"
out=$(./app-cgo)
echo "go-outside-test: cgo: $out"
# The library's auto choice: bpf where it loads (root), else sync; never procfs.
library_engine() { [[ "$1" =~ ^(sync|bpf)$ ]]; }
library_engine "$(cut -f1 <<<"$out")" || fail "cgo build runs engine '$(cut -f1 <<<"$out")', want the library's (sync or bpf)"
[ "$(cut -f3 <<<"$out")" -gt 0 ] || fail "no process read"
dyn=$(readelf -d app-cgo)
! grep -qE '\((RUNPATH|RPATH)\)' <<<"$dyn" || fail "binary has a RUNPATH/RPATH: $(grep -E 'RUNPATH|RPATH' <<<"$dyn")"
! grep -q 'NEEDED.*libprocuring' <<<"$dyn" || fail "binary needs libprocuring.so"

# `go mod vendor` keeps the archive and the header copy (their directories are packages).
go mod vendor
v=vendor/github.com/procuring/procuring/go/lib
[ -f $v/linux_amd64/libprocuring.a ] && [ -f $v/include/procuring.h ] || fail "go mod vendor dropped go/lib"
go build -mod=vendor -o app-vendor .
vendored=$(./app-vendor | cut -f1)
library_engine "$vendored" || fail "vendored build runs engine '$vendored', want the library's"
rm -rf vendor
echo "go-outside-test: go mod vendor keeps lib/; the vendored build runs the library ($vendored)"

CGO_ENABLED=0 go build -o app-nocgo .
out=$(./app-nocgo)
echo "go-outside-test: CGO_ENABLED=0: $out"
[ "$(cut -f1 <<<"$out")" = procfs ] && [ -n "$(cut -f2 <<<"$out")" ] || fail "CGO_ENABLED=0: '$out', want procfs with a reason"

GOARCH=arm64 CGO_ENABLED=0 go build -o app-arm64 .
file_arch=$(readelf -h app-arm64 | sed -n 's/.*Machine: *//p')
echo "go-outside-test: GOARCH=arm64 CGO_ENABLED=0 builds ($file_arch)"
# Without an arm64 archive, a cgo arm64 build compiles nolib_platform.go: procfs, with a reason.
files=$(GOARCH=arm64 CGO_ENABLED=1 go list -f '{{join .GoFiles " "}} {{join .CgoFiles " "}}' github.com/procuring/procuring/go)
if [ -f "$tmp/procuring/lib/linux_arm64/libprocuring.a" ]; then
	want_arm64=lib_cgo.go
else
	want_arm64=nolib_platform.go
fi
grep -qw "$want_arm64" <<<"$files" || fail "GOARCH=arm64 cgo build uses $files, want $want_arm64"
if command -v aarch64-linux-gnu-gcc >/dev/null; then
	CC=aarch64-linux-gnu-gcc GOARCH=arm64 CGO_ENABLED=1 go build -o app-arm64-cgo .
	echo "go-outside-test: GOARCH=arm64 with cgo (aarch64-linux-gnu-gcc) builds"
else
	echo "go-outside-test: GOARCH=arm64 with cgo not built: no aarch64-linux-gnu-gcc (files: $want_arm64)"
fi

# Kepler's situation: go 1.24.0, procfs v0.19.2, GOTOOLCHAIN=local.
mkdir "$tmp/kepler"
cd "$tmp/kepler"
cat > go.mod <<'MOD'
module example.com/kepler

go 1.24.0

require github.com/prometheus/procfs v0.19.2

replace github.com/procuring/procuring/go => ../procuring
MOD
cp ../app/main.go .
cat > keep.go <<'GO'
package main

import _ "github.com/prometheus/procfs"
GO
go mod tidy
go get github.com/procuring/procuring/go@v0.0.0
go mod tidy
go build -o kepler .
goline=$(sed -n 's/^go //p' go.mod)
procfs=$(go list -m -f '{{.Version}}' github.com/prometheus/procfs)
[ "$goline" = 1.24.0 ] || fail "go get rewrote the go line to $goline"
[ "$procfs" = v0.19.2 ] || fail "go get raised procfs to $procfs"
! grep -q '^toolchain' go.mod || fail "go get added a toolchain line: $(grep '^toolchain' go.mod)"
echo "go-outside-test: go 1.24.0 module: go line $goline, procfs $procfs kept; runs: $(./kepler | cut -f1)"
