#!/usr/bin/env bash
# Proves that Kepler's internal/resource/procfs_reader.go and process-exporter's proc/read.go,
# taken verbatim from their modules (downloaded through the Go module proxy), compile against
# this package with only the import path changed:
#   - the module is copied, the one import line is rewritten to
#     `procfs "github.com/procuring/procuring/go"` (the rest of the file is byte-for-byte the
#     original; the script checks that the diff is that one line), and a replace directive
#     points at the local go/;
#   - `go build` and `go vet` of the package that holds the file.
# Kepler's package pulls in Kubernetes client modules; by default only procfs_reader.go is
# built, alone in a package of its own (it imports fmt and procfs only): FULL=1 builds the
# whole internal/resource package. Run from the repository root; needs the module proxy.
set -euo pipefail
KEPLER=${KEPLER:-github.com/sustainable-computing-io/kepler@v0.11.4} # procfs_reader.go as at commit 13944a69
EXPORTER=${EXPORTER:-github.com/ncabatoff/process-exporter@v0.8.7}
GO=${GO:-go}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOWORK=off

# dir_of MODULE@VERSION [OVERRIDE]: the module's directory (OVERRIDE, a checkout of it, when set).
dir_of() {
	if [ -n "${2:-}" ]; then echo "$2"; return; fi
	local d
	d=$( (cd "$work" && "$GO" mod download -json "$1") | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	if [ -z "$d" ]; then
		echo "$1: not available from the module proxy (set KEPLER_DIR / EXPORTER_DIR to a checkout)" >&2
		exit 1
	fi
	echo "$d"
}

# swap FILE: rewrite the procfs import of FILE, and check that nothing else changed.
swap() {
	cp "$1" "$1.orig"
	sed -i 's#^\(\s*\)"github.com/prometheus/procfs"$#\1procfs "github.com/procuring/procuring/go"#' "$1"
	local n
	n=$(diff "$1.orig" "$1" | grep -c '^>' || true)
	rm "$1.orig"
	if [ "$n" != 1 ]; then echo "$1: $n lines changed, want 1" >&2; exit 1; fi
}

use_local() {
	(cd "$1" && "$GO" mod edit -replace "github.com/procuring/procuring/go=$here/go" \
		-require "github.com/procuring/procuring/go@v0.0.0" && "$GO" mod tidy >/dev/null 2>&1 || true)
}

echo "== process-exporter ($EXPORTER): proc/read.go"
src=$(dir_of "$EXPORTER" "${EXPORTER_DIR:-}")
cp -r "$src" "$work/exporter" && chmod -R u+w "$work/exporter"
swap "$work/exporter/proc/read.go"
use_local "$work/exporter"
(cd "$work/exporter" && "$GO" build ./proc/ && "$GO" vet ./proc/ && echo "process-exporter proc: build and vet OK")

echo "== Kepler ($KEPLER): internal/resource/procfs_reader.go"
src=$(dir_of "$KEPLER" "${KEPLER_DIR:-}")
if [ "${FULL:-0}" = 1 ]; then
	cp -r "$src" "$work/kepler" && chmod -R u+w "$work/kepler"
	pkg=./internal/resource/
else
	mkdir -p "$work/kepler/resource"
	cp "$src/internal/resource/procfs_reader.go" "$work/kepler/resource/"
	chmod u+w "$work/kepler/resource/procfs_reader.go"
	printf 'module keplercheck\n\ngo 1.24.0\n' >"$work/kepler/go.mod"
	pkg=./resource/
fi
swap "$work/kepler/${pkg#./}procfs_reader.go"
use_local "$work/kepler"
(cd "$work/kepler" && "$GO" build "$pkg" && "$GO" vet "$pkg" && echo "Kepler $pkg: build and vet OK")
