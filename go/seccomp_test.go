package procuring

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// denyIOURing installs, on every thread of this process, a seccomp filter that makes
// io_uring_setup fail with EPERM (as a kernel with io_uring disabled does).
func denyIOURing() error { return denyIOURingErrno(unix.EPERM) }

// denyIOURingErrno installs, on every thread of this process, a seccomp filter that makes
// io_uring_setup fail with errno (denyIOURing, with the errno chosen).
func denyIOURingErrno(errno unix.Errno) error {
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		return errors.New("no seccomp filter for " + runtime.GOARCH)
	}
	const (
		ldAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK   = unix.BPF_RET | unix.BPF_K
		nrOff  = 0 // offsetof(struct seccomp_data, nr)
		archOf = 4 // offsetof(struct seccomp_data, arch)
	)
	prog := []unix.SockFilter{
		{Code: ldAbs, K: archOf},
		{Code: jeqK, K: arch, Jt: 0, Jf: 3},
		{Code: ldAbs, K: nrOff},
		{Code: jeqK, K: unix.SYS_IO_URING_SETUP, Jt: 0, Jf: 1},
		{Code: retK, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: retK, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return e
	}
	return nil
}
