//go:build !cgo || (!procuring_system && !(linux && amd64))

// Built where this package has no library: without cgo, or on a platform with no prebuilt
// archive in lib/ (see nolib_*.go for the reason each gives).

package procuring

// cgoEnabled reports whether this build has the library.
const cgoEnabled = false

// newBackend: without the library FS falls back to procfs, with errNoLib as the reason.
func newBackend(root, engine string, opts Options) (backend, string, string, error) {
	return nil, "", "", errNoLib
}
