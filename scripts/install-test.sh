#!/usr/bin/env bash
# `make install DESTDIR=$tmp PREFIX=/usr` as a packager runs it: checks the layout, the soname
# (libprocuring.so.<PROCURING_ABI_VERSION>), that the release library is under 1 MB with no
# debug info and no PROCURING_TEST_ hook, builds the C example outside the repository with
# `pkg-config --cflags --libs procuring` alone (dynamic, and static with --static), runs both,
# then `make uninstall` leaves nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
abi=$(sed -n 's/^#define PROCURING_ABI_VERSION \([0-9][0-9]*\)$/\1/p' include/procuring.h)
version=$(sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n1)
soversion=$abi.${version#*.}
fail() { echo "install-test: $*" >&2; exit 1; }

make --no-print-directory -s install DESTDIR="$dest" PREFIX=/usr >/dev/null
(cd "$dest" && find . \( -type f -o -type l \) -printf '%p %y %l\n' | LC_ALL=C sort) > "$tmp/layout"
cat > "$tmp/want" <<LAYOUT
./usr/include/procuring.h f 
./usr/lib/libprocuring.a f 
./usr/lib/libprocuring.so l libprocuring.so.$abi
./usr/lib/libprocuring.so.$abi l libprocuring.so.$soversion
./usr/lib/libprocuring.so.$soversion f 
./usr/lib/pkgconfig/procuring.pc f 
LAYOUT
diff -u "$tmp/want" "$tmp/layout" || fail "installed layout differs (above)"
so=$dest/usr/lib/libprocuring.so.$soversion
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libprocuring.so.$abi" ] || fail "soname '$soname', want libprocuring.so.$abi"
size=$(stat -c %s "$so")
[ "$size" -lt 1048576 ] || fail "libprocuring.so is $size bytes, want < 1 MB"
! readelf -S -W "$so" | grep -q ' \.debug_' || fail "libprocuring.so carries debug info"
! grep -aq PROCURING_TEST_ "$so" || fail "libprocuring.so contains a PROCURING_TEST_ string"
! grep -aq PROCURING_TEST_ "$dest/usr/lib/libprocuring.a" || fail "libprocuring.a contains PROCURING_TEST_"
! readelf -S -W "$dest/usr/lib/libprocuring.a" | grep -q ' \.debug_' || fail "libprocuring.a carries debug info"
grep -qx 'Version: '"$version" "$dest/usr/lib/pkgconfig/procuring.pc" || fail "procuring.pc Version"
echo "install-test: layout ok, soname $soname, libprocuring.so $size bytes," \
	"libprocuring.a $(stat -c %s "$dest/usr/lib/libprocuring.a") bytes"

# A C user outside the repository: pkg-config alone finds the header and the library. The
# .pc says prefix=/usr; PKG_CONFIG_SYSROOT_DIR maps it into the DESTDIR, as for a sysroot.
mkdir "$tmp/user"
cp examples/c/ps.c "$tmp/user/"
cat > "$tmp/user/version.c" <<'C'
#include <procuring.h>
#include <stdio.h>
#include <string.h>
int main(void) {
	if (procuring_abi_version() != PROCURING_ABI_VERSION ||
	    strcmp(procuring_version(), PROCURING_VERSION_STRING) != 0) {
		fprintf(stderr, "built for %s, runs %s\n", PROCURING_VERSION_STRING, procuring_version());
		return 1;
	}
	printf("%s %s\n", procuring_version(), procuring_source_hash());
	return 0;
}
C
cd "$tmp/user"
export PKG_CONFIG_PATH=$dest/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
cflags=$(pkg-config --cflags procuring)
libs=$(pkg-config --libs procuring)
static_libs=$(pkg-config --static --libs procuring)
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
cc -O2 -Wall -Werror -std=c11 $cflags -o ps ps.c $libs
cc -O2 -Wall -Werror -std=c11 $cflags -o version version.c $libs
# Static: the archive (-l:libprocuring.a) and the system libraries of Libs.private.
cc -O2 -Wall -Werror -std=c11 $cflags -o ps-static ps.c ${static_libs/-lprocuring/-l:libprocuring.a}
readelf -d ps | grep -q "NEEDED.*\[libprocuring.so.$abi\]" || fail "ps does not need libprocuring.so.$abi"
! readelf -d ps-static | grep -q 'NEEDED.*libprocuring' || fail "ps-static needs libprocuring.so"
LD_LIBRARY_PATH=$dest/usr/lib ./version
LD_LIBRARY_PATH=$dest/usr/lib ./ps --check >/dev/null || fail "ps (dynamic) failed"
./ps-static --check >/dev/null || fail "ps-static failed"
echo "install-test: C example built outside the repository with pkg-config, dynamic and static: runs"

cd "$repo"
make --no-print-directory -s uninstall DESTDIR="$dest" PREFIX=/usr
left=$(find "$dest" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install-test: uninstall removed everything"
