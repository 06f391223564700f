package procuring

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childMode runs the helper modes of the test binary selected by PROCURING_TEST_CHILD;
// it returns true when the process must exit without running tests.
func childMode() bool {
	switch os.Getenv("PROCURING_TEST_CHILD") {
	case "":
		return false
	case "no-uring":
		// Run the selected tests with io_uring_setup refused by a seccomp filter.
		if err := denyIOURing(); err != nil {
			fmt.Fprintln(os.Stderr, "seccomp:", err)
			os.Exit(3)
		}
		return false
	default:
		return false
	}
}

// testKids are processes with awkward /proc contents, started by startKids.
type testKids struct {
	pids    map[int]string // pid -> what it is
	names   map[int]string // pid -> hostile name it was executed as
	stdin   *os.File       // write end of the pipe the readers block on
	cmds    []*exec.Cmd
	zombies []*os.Process
}

// Names whose first 15 bytes become the comm of the process executed through them.
var hostileNames = []string{
	"a b)",
	"x\ny (z",
	"evil) kB",
	"sp ",
	"tab\there",
	"nb\u00a0",
	"(((",
	") ) )",
	"0123456789abcdefghij",
	"Name:\tfake",
}

// startKids starts: sleep under hostile names, a shell whose argv is over 10 KiB with
// spaces, newlines and empty arguments (and an odd environment), and a zombie.
func startKids(t testing.TB) *testKids {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh binary")
	}
	truebin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true binary")
	}
	dir := t.TempDir()
	k := &testKids{pids: map[int]string{}, names: map[int]string{}}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	k.stdin = w
	t.Cleanup(func() { k.stop() })
	defer r.Close()

	start := func(what string, c *exec.Cmd) {
		c.Stdin = r
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			t.Fatalf("start %s: %v", what, err)
		}
		k.cmds = append(k.cmds, c)
		k.pids[c.Process.Pid] = what
	}
	for i, name := range hostileNames {
		link := filepath.Join(dir, fmt.Sprintf("d%d", i), name)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(sleep, link); err != nil {
			t.Fatal(err)
		}
		start(fmt.Sprintf("sleep as %q", name), exec.Command(link, "3600"))
		k.names[k.cmds[len(k.cmds)-1].Process.Pid] = name
	}

	args := []string{"-c", "read x; exit 0", "argv0 with space"}
	for i := 0; len(strings.Join(args, " ")) < 12<<10; i++ {
		args = append(args, fmt.Sprintf("arg %d with spaces\nand a newline\t%s", i, strings.Repeat("x", i%97)))
	}
	args = append(args, "", "tail", "", "")
	c := exec.Command(sh, args...)
	c.Env = []string{"A=1", "SPACES=a b c", "NL=x\ny", "EMPTY=", "=novar", "PATH=/usr/bin:/bin"}
	start("sh with long argv", c)

	// Over 1 MiB of arguments: procfs reads only the first MiB of cmdline.
	huge := []string{"-c", "read x; exit 0", "huge"}
	for range 12 {
		huge = append(huge, strings.Repeat("y", 100<<10))
	}
	start("sh with 1.2 MiB argv", exec.Command(sh, huge...))

	// A zombie: a child of this process that exited and is not waited for.
	zlink := filepath.Join(dir, "zo mb)ie")
	if err := os.Symlink(truebin, zlink); err != nil {
		t.Fatal(err)
	}
	zp, err := os.StartProcess(zlink, []string{zlink}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	k.zombies = append(k.zombies, zp)
	k.pids[zp.Pid] = "zombie"

	// Wait until every child has exec'd (comm changed) and the zombie is one.
	deadline := time.Now().Add(10 * time.Second)
	for pid, what := range k.pids {
		for {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			ok := err == nil
			if ok && what == "zombie" {
				ok = strings.Contains(string(data), ") Z ")
			} else if ok {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				ok = !strings.HasPrefix(string(comm), "procuring.test") && strings.Contains(string(data), ") S ")
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("child %d (%s) not ready: %q %v", pid, what, data, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return k
}

func (k *testKids) stop() {
	if k.stdin != nil {
		k.stdin.Close()
		k.stdin = nil
	}
	for _, c := range k.cmds {
		c.Process.Kill()
		c.Wait()
	}
	k.cmds = nil
	for _, z := range k.zombies {
		z.Kill()
		z.Wait()
	}
	k.zombies = nil
}

// ---- benchmark children: spawned once per test binary, killed in TestMain ----

// The children are kept as pids, not *os.Process: since Go 1.23 an os.Process holds a pidfd,
// so 10,000 children would hold 10,000 descriptors of the benchmark's. Each is released right
// after Start and killed and reaped by pid (safe: an unreaped child's pid cannot be reused).
// If this process dies without stopBenchChildren (panic, os.Exit, signal), the children read
// EOF on the pipe and exit; Pdeathsig covers the rest.
var bench struct {
	once  sync.Once
	mu    sync.Mutex
	stdin *os.File
	pids  []int
	err   error
}

// benchProcs is the number of idle children of the benchmarks (PROCURING_BENCH_PROCS).
func benchProcs() int {
	n := 2000
	if v := os.Getenv("PROCURING_BENCH_PROCS"); v != "" {
		fmt.Sscanf(v, "%d", &n)
	}
	return n
}

// benchChildren starts the idle children of the benchmarks once. They block reading a
// pipe this process holds the write end of, so they also exit if it dies.
func benchChildren(b *testing.B) {
	bench.once.Do(func() {
		cat, err := exec.LookPath("cat")
		if err != nil {
			bench.err = err
			return
		}
		r, w, err := os.Pipe()
		if err != nil {
			bench.err = err
			return
		}
		defer r.Close()
		bench.mu.Lock()
		bench.stdin = w
		bench.mu.Unlock()
		n := benchProcs()
		for range n {
			c := exec.Command(cat)
			c.Stdin = r
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := c.Start(); err != nil {
				bench.err = fmt.Errorf("starting child %d of %d: %w", len(bench.pids)+1, n, err)
				return
			}
			pid := c.Process.Pid
			bench.mu.Lock()
			bench.pids = append(bench.pids, pid)
			bench.mu.Unlock()
			// Closes the pidfd; the child stays ours to kill and reap by pid.
			c.Process.Release()
		}
		// Let them all reach their read.
		for _, pid := range bench.pids {
			for i := 0; i < 2000; i++ {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				if strings.TrimSpace(string(comm)) == "cat" {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	})
	if bench.err != nil {
		b.Fatalf("benchmark children: %v", bench.err)
	}
}

// stopBenchChildren kills and reaps the benchmark children (called by TestMain).
func stopBenchChildren() {
	bench.mu.Lock()
	defer bench.mu.Unlock()
	if bench.stdin != nil {
		bench.stdin.Close()
		bench.stdin = nil
	}
	for _, pid := range bench.pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range bench.pids {
		for {
			_, err := syscall.Wait4(pid, nil, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
	}
	bench.pids = nil
}
