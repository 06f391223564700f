# procuring: `make run` shows a ps-like table of this machine through the library;
# `make test` runs every test (Rust, C example, Go with and without cgo).
SHELL := /bin/bash
CARGO ?= cargo
GO ?= go
LIBDIR := $(CURDIR)/target/release
LIB := $(LIBDIR)/libprocuring.so
CFLAGS ?= -O2 -g -Wall -Wextra -Werror -std=c11
# Go's build cache does not track headers outside the package: a hash of include/procuring.h in
# CGO_CFLAGS (part of the cache key) rebuilds the cgo wrapper when the header changes.
GO_ENV = CGO_LDFLAGS="-L$(LIBDIR) -Wl,-rpath,$(LIBDIR)" \
	CGO_CFLAGS="-g -O2 -DPROCURING_H_SHA=$(shell sha256sum include/procuring.h | cut -c1-16)"

.PHONY: all lib header header-check fmt-check run run-c test test-rust test-c test-go test-fuzz bench bench-report clean

all: lib header

lib:
	$(CARGO) build --release --lib
	ln -sf libprocuring.so $(LIBDIR)/libprocuring.so.0

header:
	cbindgen --quiet --config cbindgen.toml --output include/procuring.h .

# Fails on any Rust formatting that is not rustfmt's (rustfmt.toml sets the style).
fmt-check:
	$(CARGO) fmt --all --check
	cd fuzz && $(CARGO) fmt --check

# Fails when include/procuring.h is not what cbindgen makes from the code.
header-check:
	cbindgen --quiet --config cbindgen.toml --output include/procuring.h --verify .

examples/c/ps: examples/c/ps.c include/procuring.h lib
	$(CC) $(CFLAGS) -Iinclude -o $@ examples/c/ps.c -L$(LIBDIR) -lprocuring -Wl,-rpath,$(LIBDIR)

# The main job: a ps-like table of this machine through the library (Go package when built).
run: lib
	@if [ -f go/cmd/procuring-ps/main.go ]; then \
		cd go && $(GO_ENV) $(GO) run ./cmd/procuring-ps; \
	else $(MAKE) --no-print-directory run-c; fi

run-c: examples/c/ps
	./examples/c/ps

test: fmt-check header-check test-rust test-c test-go test-fuzz
	@echo "make test: all suites passed"

# Tests that skip their checks (not root, no unshare, ...) are listed at the end.
SKIPPED := $${CARGO_TARGET_DIR:-target}/tmp/skipped-tests.txt
test-rust:
	rm -f $(SKIPPED)
	$(CARGO) test --release
	@if [ -s $(SKIPPED) ]; then echo "Rust tests that skipped their checks:"; sed 's/^/  /' $(SKIPPED); fi

test-c: examples/c/ps
	./examples/c/ps --check >/dev/null
	valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		./examples/c/ps --check >/dev/null

test-go: lib
	@if [ -f go/go.mod ]; then \
		cd go && $(GO_ENV) GO=$(GO) ../scripts/go-test.sh && \
		CGO_ENABLED=0 GO=$(GO) GO_TEST_LABEL=" (CGO_ENABLED=0)" ../scripts/go-test.sh; \
	fi

# A short fuzz run of every parser (seconds each); scripts/fuzz.sh documents the long run.
test-fuzz:
	scripts/fuzz.sh 5

bench: lib
	$(CARGO) bench --bench scan

# Spawns 500 / 2,000 / 10,000 processes, runs the criterion and Go benchmarks, writes
# docs/BENCHMARKS.md and docs/scan_cpu.png.
bench-report: lib
	python3 scripts/bench_report.py

clean:
	$(CARGO) clean
	rm -f examples/c/ps

# Regenerates the checked-in BPF object of the bpf engine from its C source (clang, BPF
# target; CO-RE: no vmlinux.h needed) and the source hash that tests/bpf.rs checks.
.PHONY: bpf
bpf:
	clang -target bpf -O2 -g -Wall -Werror -c bpf/procuring.bpf.c -o bpf/procuring.bpf.o
	llvm-strip -g bpf/procuring.bpf.o
	cd bpf && sha256sum procuring.bpf.c > procuring.bpf.o.sha256
