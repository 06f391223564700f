//go:build cgo && ((linux && amd64) || procuring_system)

package procuring

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestURingRefusedErrno runs TestURingRefusedErrnoChild in a process whose io_uring_setup
// fails with EPERM (seccomp, kernel.io_uring_disabled=2), then with ENOSYS (a kernel without
// io_uring): a forced uring, by Options or by PROCURING_ENGINE, fails with the library's
// PROCURING_ERR_URING_UNAVAILABLE naming that errno; auto runs sync and scans.
// (TestForcedURingRefused covers EPERM without checking the message names it.)
func TestURingRefusedErrno(t *testing.T) {
	if os.Getenv("PROCURING_TEST_CHILD") != "" {
		t.Skip("in the child")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("seccomp filter written for amd64/arm64")
	}
	for _, name := range []string{"EPERM", "ENOSYS"} {
		t.Run(name, func(t *testing.T) {
			c := exec.Command(os.Args[0], "-test.run=^TestURingRefusedErrnoChild$", "-test.v", "-test.count=1")
			c.Env = append(os.Environ(), "PROCURING_TEST_CHILD=reliability-uring-"+name)
			out, err := c.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestURingRefusedErrnoChild") {
				t.Fatalf("child: %v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}

func TestURingRefusedErrnoChild(t *testing.T) {
	name, ok := strings.CutPrefix(os.Getenv("PROCURING_TEST_CHILD"), "reliability-uring-")
	if !ok {
		t.Skip("run by TestURingRefusedErrno")
	}
	errno := map[string]unix.Errno{"EPERM": unix.EPERM, "ENOSYS": unix.ENOSYS}[name]
	if err := denyIOURingErrno(errno); err != nil {
		t.Fatal(err)
	}
	if _, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 4, uintptr(unsafe.Pointer(&[120]byte{})), 0); e != errno {
		t.Fatalf("filter not in force: io_uring_setup gave %v, want %v", e, errno)
	}

	_, err := NewFSWithOptions("/proc", Options{Engine: EngineURing})
	var le *LibraryError
	if !errors.As(err, &le) || le.Code != -3 || !strings.Contains(le.Msg, "io_uring_setup: "+name) {
		t.Fatalf("forced uring with io_uring_setup refused by %s: %v", name, err)
	}
	t.Logf("forced uring: %v", err)
	t.Setenv(EnvEngine, "uring")
	_, err = NewFS("/proc")
	if !errors.As(err, &le) || !strings.Contains(err.Error(), EnvEngine) || !strings.Contains(err.Error(), name) {
		t.Fatalf("PROCURING_ENGINE=uring with io_uring_setup refused by %s: %v", name, err)
	}
	t.Setenv(EnvEngine, "")

	fs, err := NewFSWithOptions("/proc", Options{Engine: EngineAuto})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if got, reason := fs.Engine(); got != autoEngine() {
		t.Fatalf("auto with io_uring refused by %s: engine %s (%s)", name, got, reason)
	}
	self, err := fs.Self()
	if err != nil {
		t.Fatal(err)
	}
	st, err := self.Stat()
	if err != nil || st.PID != os.Getpid() {
		t.Fatalf("Stat of self: %+v, %v", st, err)
	}
	ps, err := fs.AllProcs()
	if err != nil || len(ps) < 2 {
		t.Fatalf("AllProcs: %d, %v", len(ps), err)
	}
}
