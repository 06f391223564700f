//go:build !cgo

package procuring

import "errors"

// errNoLib is the reason FS.Engine gives for the procfs engine in this build.
var errNoLib = errors.New("built without cgo")
