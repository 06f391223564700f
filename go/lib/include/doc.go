// Package include holds procuring.h, a copy of the repository's include/procuring.h (`make
// go-archive` writes it) for the cgo build of the parent package. It has no Go code: this file
// only makes `go mod vendor` keep the directory (see ../../vendor_lib.go).
package include
