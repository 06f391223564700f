//go:build procuring_vendor_lib

package procuring

// `go mod vendor` copies the files of the directories of packages that some build (any tags)
// imports, and nothing else: a directory without Go files would be dropped. The prebuilt
// library and the header copy therefore live in lib/, in (empty) packages of their own,
// imported here under a tag no build sets, so that vendoring keeps them (as wasmtime-go
// does). The cgo build finds them through ${SRCDIR} (link_archive.go).
import (
	_ "github.com/procuring/procuring/go/lib/include"
	_ "github.com/procuring/procuring/go/lib/linux_amd64"
)
