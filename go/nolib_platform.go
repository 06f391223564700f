//go:build cgo && !procuring_system && !(linux && amd64)

package procuring

import (
	"errors"
	"runtime"
)

// errNoLib is the reason FS.Engine gives for the procfs engine in this build: this module
// carries prebuilt libraries for linux/amd64 only.
var errNoLib = errors.New("no prebuilt libprocuring in this module for " + runtime.GOOS + "/" +
	runtime.GOARCH + " (build with -tags procuring_system against an installed libprocuring)")
