#!/usr/bin/env bash
# Fails when the Go module's prebuilt files are stale against the Rust sources: the header copy
# go/lib/include/procuring.h must equal include/procuring.h (which `make header-check` ties to
# src/), and every go/lib/*/libprocuring.a must embed the source hash of the current tree
# (scripts/source-hash.sh; build.rs embeds it). The linux/amd64 archive must exist. Also
# checks that no archive carries debug info or a test hook. Fix: `make go-archive`, commit.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
if ! cmp -s include/procuring.h go/lib/include/procuring.h; then
	echo "go/lib/include/procuring.h differs from include/procuring.h: run make go-archive" >&2
	fail=1
fi
want=$(scripts/source-hash.sh)
[ -f go/lib/linux_amd64/libprocuring.a ] ||
	{ echo "go/lib/linux_amd64/libprocuring.a is missing: run make go-archive" >&2; fail=1; }
for a in go/lib/*/libprocuring.a; do
	[ -f "$a" ] || continue
	got=$(grep -aoE 'procuring-source-hash:[0-9a-f]{64}' "$a" | head -n1 | cut -d: -f2 || true)
	if [ "$got" != "$want" ]; then
		echo "$a is stale: built from sources ${got:-(no hash)}, the tree is $want: run make go-archive" >&2
		fail=1
	fi
	if readelf -S -W "$a" | grep -q ' \.debug_'; then
		echo "$a carries debug info" >&2
		fail=1
	fi
	if grep -aq PROCURING_TEST_ "$a"; then
		echo "$a contains a PROCURING_TEST_ hook" >&2
		fail=1
	fi
	echo "$a: $(stat -c %s "$a") bytes, sources $got"
done
[ "$fail" = 0 ] && echo "go/lib: header copy and archives match the sources ($want)"
exit "$fail"
