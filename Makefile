# procuring: `make run` shows a ps-like table of this machine through the library;
# `make test` runs every test (Rust, C example and install, Go with and without cgo, against
# the oldest and newest procfs, and as an outside module on the prebuilt archive).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
CARGO ?= cargo
GO ?= go
CBINDGEN ?= cbindgen
STRIP ?= strip

# Build products of `make lib` (also what the in-repo Go tests link, never go/lib/).
BUILD := $(CURDIR)/target/release
# The soname major is the ABI version (the header's, which `make header-check` ties to
# src/ffi.rs); the version is Cargo.toml's, whose major tests/version.rs ties to the ABI.
ABI := $(shell sed -n 's/^\#define PROCURING_ABI_VERSION \([0-9][0-9]*\)$$/\1/p' include/procuring.h)
VERSION := $(shell sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n1)
SOVERSION := $(ABI).$(word 2,$(subst ., ,$(VERSION))).$(word 3,$(subst ., ,$(VERSION)))
SONAME := libprocuring.so.$(ABI)

# Install layout (GNU names; DESTDIR for staged installs, as packagers do).
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

CFLAGS ?= -O2 -g -Wall -Wextra -Werror -std=c11

# The Go package inside this repository is always tested against the library built from the
# current sources: tag procuring_system, with target/pkgconfig/procuring.pc pointing at
# target/release (the packager's path), never the prebuilt archive in go/lib/. Go's build cache
# does not see a changed library or header: the source hash in CGO_CFLAGS (part of its key)
# rebuilds the cgo part when the sources change.
GO_ENV = PKG_CONFIG_PATH="$(CURDIR)/target/pkgconfig$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH}" \
	CGO_LDFLAGS="-Wl,-rpath,$(BUILD)" \
	CGO_CFLAGS="-g -O2 -DPROCURING_SRC_HASH=$$($(CURDIR)/scripts/source-hash.sh | cut -c1-16)" \
	GOFLAGS="$$($(GO) env GOFLAGS) -tags=procuring_system $(GO_MODFILE)"
# The newest procfs the differential tests also run against (go.mod requires the oldest).
GO_NEWEST_PROCFS ?= v0.23.0
# Rust targets `make go-archive` builds (those whose rust-std is installed).
GO_ARCHIVE_TARGETS ?= x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu

.PHONY: all lib pc header header-check fmt-check run run-c test test-rust test-c test-install \
	test-go test-go-newest test-go-lib test-go-outside test-fuzz go-archive install uninstall \
	bench bench-report clean

all: lib header

# The library (libprocuring.so with soname libprocuring.so.<ABI>, libprocuring.a), and
# target/release/native-static-libs.txt: the system libraries the static archive needs, as
# rustc prints them (only when it compiles the crate: cleaned first when the file is missing).
lib:
	@mkdir -p $(BUILD)
	@[ -s $(BUILD)/native-static-libs.txt ] || $(CARGO) clean --release -p procuring -q
	$(CARGO) rustc --release --lib -- --print native-static-libs 2>&1 | tee target/rustc-lib.log
	@libs=$$(sed -n 's/.*native-static-libs: //p' target/rustc-lib.log); \
		if [ -n "$$libs" ]; then echo "$$libs" > $(BUILD)/native-static-libs.txt; fi
	ln -sf libprocuring.so $(BUILD)/$(SONAME)

# procuring.pc for this tree (target/pkgconfig), used by the in-repo Go build.
pc: lib
	mkdir -p target/pkgconfig
	$(call make_pc,$(CURDIR),$(BUILD),$(CURDIR)/include) > target/pkgconfig/procuring.pc

# procuring.pc from procuring.pc.in: $(1) prefix, $(2) libdir, $(3) includedir.
make_pc = sed -e 's|@prefix@|$(1)|' -e 's|@libdir@|$(patsubst $(1)/%,$${prefix}/%,$(2))|' \
	-e 's|@includedir@|$(patsubst $(1)/%,$${prefix}/%,$(3))|' -e 's|@version@|$(VERSION)|' \
	-e "s|@libs_private@|$$(cat $(BUILD)/native-static-libs.txt)|" procuring.pc.in

header:
	$(CBINDGEN) --quiet --config cbindgen.toml --output include/procuring.h .

# Fails on any Rust formatting that is not rustfmt's (rustfmt.toml sets the style).
fmt-check:
	$(CARGO) fmt --all --check
	cd fuzz && $(CARGO) fmt --check

# Fails when include/procuring.h is not what cbindgen makes from the code.
header-check:
	$(CBINDGEN) --quiet --config cbindgen.toml --output include/procuring.h --verify .

# The Go module's prebuilt static archives (go/lib/<goos>_<goarch>/libprocuring.a: LTO,
# stripped) and header copy (go/lib/include/procuring.h), for every target of
# GO_ARCHIVE_TARGETS whose rust-std is installed. Commit them once per release, when the
# library's sources changed (`make test-go-lib` says when).
go-archive:
	scripts/go-archive.sh $(GO_ARCHIVE_TARGETS)

install: lib
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/procuring.h $(DESTDIR)$(INCLUDEDIR)/procuring.h
	install -m 755 $(BUILD)/libprocuring.so $(DESTDIR)$(LIBDIR)/libprocuring.so.$(SOVERSION)
	ln -sfn libprocuring.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libprocuring.so
	install -m 644 $(BUILD)/libprocuring.a $(DESTDIR)$(LIBDIR)/libprocuring.a
	$(STRIP) --strip-debug $(DESTDIR)$(LIBDIR)/libprocuring.a
	$(call make_pc,$(PREFIX),$(LIBDIR),$(INCLUDEDIR)) > $(DESTDIR)$(PKGCONFIGDIR)/procuring.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/procuring.h $(DESTDIR)$(LIBDIR)/libprocuring.so.$(SOVERSION) \
		$(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libprocuring.so \
		$(DESTDIR)$(LIBDIR)/libprocuring.a $(DESTDIR)$(PKGCONFIGDIR)/procuring.pc

# clippy, rustdoc, go vet + staticcheck (cgo and CGO_ENABLED=0), gofmt, py_compile.
lint: pc
	$(GO_ENV) CARGO=$(CARGO) GO=$(GO) scripts/lint.sh

examples/c/ps: examples/c/ps.c include/procuring.h lib
	$(CC) $(CFLAGS) -Iinclude -o $@ examples/c/ps.c -L$(BUILD) -lprocuring -Wl,-rpath,$(BUILD)

# The main job: a ps-like table of this machine through the library (Go package when built).
run: pc
	@if [ -f go/cmd/procuring-ps/main.go ]; then \
		cd go && $(GO_ENV) $(GO) run ./cmd/procuring-ps; \
	else $(MAKE) --no-print-directory run-c; fi

run-c: examples/c/ps
	./examples/c/ps

test: fmt-check header-check lint test-rust test-c test-install test-go test-go-newest test-go-lib \
	test-go-outside test-fuzz
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

# make install into a temporary DESTDIR: layout, soname, the release library's size and
# contents, the C example built outside the repository with pkg-config alone, uninstall.
test-install: lib
	scripts/install-test.sh

test-go: pc
	@if [ -f go/go.mod ]; then \
		cd go && $(GO_ENV) GO=$(GO) ../scripts/go-test.sh && \
		CGO_ENABLED=0 GO=$(GO) GO_TEST_LABEL=" (CGO_ENABLED=0)" ../scripts/go-test.sh; \
	fi

# The Go tests again with the newest procfs selected (a temporary go.mod under target/).
test-go-newest: GO_MODFILE = -modfile=$(CURDIR)/target/go-newest/go.mod
test-go-newest: pc
	mkdir -p target/go-newest
	cp go/go.mod target/go-newest/go.mod
	cp go/go.sum target/go-newest/go.sum
	cd go && GOTOOLCHAIN=local $(GO) get -modfile=$(CURDIR)/target/go-newest/go.mod \
		github.com/prometheus/procfs@$(GO_NEWEST_PROCFS)
	cd go && $(GO_ENV) GO=$(GO) GO_TEST_LABEL=" (procfs $(GO_NEWEST_PROCFS))" ../scripts/go-test.sh

# Fails when the committed prebuilt archive or header copy in go/lib/ is stale.
test-go-lib:
	scripts/check-go-lib.sh

# go/ copied alone into a temporary directory, used as a dependency with no Rust toolchain on
# PATH: links the prebuilt archive statically, runs on the sync engine; CGO_ENABLED=0 and
# GOARCH=arm64 builds fall back to procfs; a go 1.24.0 module keeps its go line.
test-go-outside:
	scripts/go-outside-test.sh

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
