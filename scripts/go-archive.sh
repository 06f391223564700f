#!/usr/bin/env bash
# Builds the Go module's prebuilt static archives from the Rust sources: for each Rust target
# given (default: linux amd64 and arm64) whose rust-std is installed,
# go/lib/<goos>_<goarch>/libprocuring.a (profile go-archive: fat LTO, one codegen unit, debug
# info stripped, paths of this checkout and of the cargo registry remapped), then the header
# copy go/lib/include/procuring.h. Each archive embeds procuring_source_hash(), which
# scripts/check-go-lib.sh compares with the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ $# -gt 0 ] || set -- x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu
built=0
for triple in "$@"; do
	case $triple in
	x86_64-unknown-linux-gnu) plat=linux_amd64 ;;
	aarch64-unknown-linux-gnu) plat=linux_arm64 ;;
	*) echo "go-archive: no Go platform known for $triple" >&2; exit 1 ;;
	esac
	if ! ls "$(rustc --print target-libdir --target "$triple")"/libstd-*.rlib >/dev/null 2>&1; then
		echo "go-archive: skipping $plat: rust-std for $triple is not installed (rustup target add $triple)"
		continue
	fi
	t0=$(date +%s)
	log=$(mktemp)
	# A staticlib only (no cdylib: that would need a linker for the target). RUSTFLAGS with
	# --target applies to the library and its dependencies, not to build scripts.
	RUSTFLAGS="--remap-path-prefix=$root=/procuring --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
		cargo rustc --lib --profile go-archive --target "$triple" --crate-type staticlib \
		-- --print native-static-libs 2>&1 | tee "$log"
	# The system libraries Rust's std needs must be those link_archive.go's #cgo line names.
	libs=$(sed -n 's/.*native-static-libs: //p' "$log")
	rm -f "$log"
	if [ -n "$libs" ] && ! grep -qF -- "libprocuring.a $libs" go/link_archive.go; then
		echo "go-archive: rustc says the archive needs '$libs': update go/link_archive.go's LDFLAGS" >&2
		exit 1
	fi
	src=target/$triple/go-archive/libprocuring.a
	strip=strip
	if [ "$plat" != linux_amd64 ] || [ "$(uname -m)" != x86_64 ]; then
		strip=$(command -v llvm-strip || command -v "${triple%%-*}-linux-gnu-strip" || true)
		[ -n "$strip" ] || { echo "go-archive: no strip for $triple (llvm-strip)" >&2; exit 1; }
	fi
	mkdir -p "go/lib/$plat"
	cp "$src" "go/lib/$plat/libprocuring.a.tmp"
	# Debug info and local symbols go; the global symbols the linker needs stay.
	"$strip" --strip-debug --strip-unneeded "go/lib/$plat/libprocuring.a.tmp"
	mv "go/lib/$plat/libprocuring.a.tmp" "go/lib/$plat/libprocuring.a"
	echo "go-archive: go/lib/$plat/libprocuring.a: $(stat -c %s "go/lib/$plat/libprocuring.a") bytes" \
		"(unstripped $(stat -c %s "$src")), $(($(date +%s) - t0)) s"
	built=$((built + 1))
	goarch=${plat#linux_}
	if ! grep -q "linux && $goarch" go/link_archive.go; then
		echo "go-archive: go/lib/$plat is not linked yet: add linux/$goarch to the build constraints of" \
			"go/lib_cgo.go, go/lib_nocgo.go, go/nolib_platform.go, go/link_archive.go (its LDFLAGS" \
			"line) and the cgo test files"
	fi
done
[ "$built" -gt 0 ] || { echo "go-archive: no archive built" >&2; exit 1; }
cp include/procuring.h go/lib/include/procuring.h
echo "go-archive: source hash $(scripts/source-hash.sh); commit go/lib/include/procuring.h and go/lib/*/libprocuring.a"
