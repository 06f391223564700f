//go:build cgo && linux && amd64 && !procuring_system

package procuring

// The default build links the prebuilt static archive this module carries (lib/linux_amd64,
// made by `make go-archive` from the Rust sources, stripped, LTO) and the header copy
// (lib/include): no Rust toolchain, no shared library to ship, no RUNPATH. The libraries after
// the archive are what Rust's standard library needs (`--print native-static-libs`).

// #cgo CFLAGS: -I${SRCDIR}/lib/include
// #cgo LDFLAGS: ${SRCDIR}/lib/linux_amd64/libprocuring.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
import "C"
