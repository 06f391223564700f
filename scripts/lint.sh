#!/usr/bin/env bash
# Static checks of every language in the tree (`make lint`, part of `make test`):
#
#   Rust    cargo clippy --all-targets -D warnings; rustdoc with -D warnings (broken links,
#           bad code blocks); the count of public items without docs (reported, not failing).
#   Go      go vet and staticcheck, with cgo (the Makefile's CGO_CFLAGS, passed in by make) and
#           with CGO_ENABLED=0: each build mode compiles other files, so each has its own
#           unused code and vet findings; gofmt -l.
#   Python  py_compile of scripts/ (syntax only: no dependency to install).
#
# Every check runs even when an earlier one fails; the exit status is 1 if any failed, and the
# failed checks are listed at the end. STATICCHECK names the binary (default: staticcheck on
# PATH, else $(go env GOPATH)/bin/staticcheck); `.ci/run` installs it.
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
GO=${GO:-go}

failed=()
check() {
	local name=$1
	shift
	echo "lint: $name"
	if ! "$@"; then
		failed+=("$name")
	fi
}

# --- Rust -----------------------------------------------------------------------------------
check "cargo clippy" "$CARGO" clippy --quiet --all-targets -- -D warnings
check "cargo doc" env RUSTDOCFLAGS="-D warnings" "$CARGO" doc --quiet --no-deps

# Undocumented public items fail clippy: lib.rs has #![warn(missing_docs)] and clippy runs
# with -D warnings.

# --- Go -------------------------------------------------------------------------------------
if [ -f go/go.mod ]; then
	staticcheck=${STATICCHECK:-$(command -v staticcheck || echo "$("$GO" env GOPATH)/bin/staticcheck")}
	if [ ! -x "$staticcheck" ]; then
		echo "lint: staticcheck not found (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)"
		failed+=("staticcheck missing")
		staticcheck=""
	fi
	# cgo needs only include/procuring.h here (vet and staticcheck do not link); CGO_CFLAGS from
	# the Makefile's GO_ENV keeps Go's build cache keyed on the header.
	go_checks() {
		local mode=$1
		shift
		check "go vet ($mode)" env "$@" sh -c "cd go && \"$GO\" vet ./..."
		if [ -n "$staticcheck" ]; then
			check "staticcheck ($mode)" env "$@" sh -c "cd go && \"$staticcheck\" ./..."
		fi
	}
	go_checks "cgo" CGO_ENABLED=1
	go_checks "CGO_ENABLED=0" CGO_ENABLED=0
	unformatted=$(gofmt -l go)
	if [ -n "$unformatted" ]; then
		echo "lint: gofmt -l: not gofmt-formatted:"
		echo "$unformatted" | sed 's/^/  /'
		failed+=("gofmt")
	fi
fi

# --- Python ---------------------------------------------------------------------------------
pyc=$(mktemp -d)
trap 'rm -rf "$pyc"' EXIT
check "python py_compile" env PYTHONPYCACHEPREFIX="$pyc" \
	python3 -m py_compile $(find scripts -name '*.py' | sort)

if [ ${#failed[@]} -gt 0 ]; then
	echo "lint: FAILED: ${failed[*]}"
	exit 1
fi
echo "lint: all checks passed"
