#!/usr/bin/env bash
# Runs `go test -v -count=1 ./...` (in go/, with the environment given), prints the package
# results, and lists the tests that skipped their checks: a skipped test passes, and without
# this list a CI with fewer privileges would look green for checks it never ran. Skips that
# are part of a test's design ("in the child", "run by TestX") are not listed. On failure the
# whole verbose log is printed.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${GO:-go}" test -v -count=1 ./... >"$log" 2>&1; then
	cat "$log"
	exit 1
fi
grep -E '^(ok|\?) ' "$log"
awk '
	# go test -v prints the t.Skip message of a test before its "--- SKIP" line.
	/^=== (RUN|CONT|PAUSE|NAME) / { last = ""; next }
	/^ +[^ ]+\.go:[0-9]+: / { last = $0; sub(/^ *[^ ]+\.go:[0-9]+: /, "", last); next }
	/^ *--- SKIP: / {
		if (last !~ /in the child|^run by Test/) skips = skips "  " $3 ": " (last == "" ? "(no reason given)" : last) "\n"
		last = ""
	}
	END { if (skips != "") printf "Go tests that skipped their checks%s:\n%s", label, skips }
' label="${GO_TEST_LABEL:-}" "$log"
