//go:build cgo && procuring_system

package procuring

// With the tag procuring_system the package links the libprocuring installed on the system
// (`make install`, or a distribution's package) through pkg-config instead of the archive
// in lib/: `go build -tags procuring_system` (PKG_CONFIG_PATH if procuring.pc is not in a
// default directory).

// #cgo pkg-config: procuring
import "C"
