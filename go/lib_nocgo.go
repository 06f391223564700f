//go:build !cgo

package procuring

import "errors"

// cgoEnabled reports whether this build has the library.
const cgoEnabled = false

var errNoCgo = errors.New("built without cgo")

// newBackend: without cgo there is no library; FS falls back to procfs.
func newBackend(root, engine string, opts Options) (backend, string, string, error) {
	return nil, "", "", errNoCgo
}
