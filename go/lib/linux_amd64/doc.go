// Package linux_amd64 holds libprocuring.a, the library prebuilt for linux/amd64 (`make
// go-archive`), which the parent package links. It has no Go code: this file only makes `go mod
// vendor` keep the directory (see ../../vendor_lib.go).
package linux_amd64
