//go:build cgo && ((linux && amd64) || procuring_system)

package procuring

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/procfs"
)

// Exact by default: every value of a listing is what the kernel showed during the batch
// that returned it, as procfs would read it then, after the process changed what procfs
// shows (exec, rename, cgroup move, argv rewrite) and across listings of one FS. Each test
// compares with prometheus/procfs on the same /proc right after our read (the child waits
// on its stdin between changes, so nothing moves in between).

// The child modes of these tests run in init: the main goroutine is on the main thread
// (the thread group leader) during init, so PR_SET_NAME renames the process's comm.
func init() {
	mode := os.Getenv("PROCURING_EXACT_CHILD")
	if mode == "" {
		return
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(0)
	}
	switch mode {
	case "rename":
		name := []byte("renamed-kid\x00")
		syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0)
	case "argv":
		// setproctitle: overwrite the argument in the argv memory itself (os.Args points
		// into it), as a process changing its title does.
		arg := os.Args[len(os.Args)-1]
		b := unsafe.Slice(unsafe.StringData(arg), len(arg))
		copy(b, strings.Replace(arg, "idle", "busy", 1))
	}
	// Acknowledge, then wait for EOF.
	os.Stdout.WriteString("done\n")
	in.ReadString('\n')
	os.Exit(0)
}

// exactKid is a child that waits for a line on its stdin before each change.
type exactKid struct {
	cmd *exec.Cmd
	in  *os.File
	out *bufio.Reader
	pid int
}

// step tells the kid to go on and waits for its answer.
func (k *exactKid) step(t *testing.T) {
	t.Helper()
	k.in.WriteString("go\n")
	if l, err := k.out.ReadString('\n'); err != nil {
		t.Fatalf("child: %q %v", l, err)
	}
}

// checkListings checks pid with every FS of fss in two listings after a change (what):
// checkExact's comparison with procfs, then ok of procfs's values.
func checkListings(t *testing.T, fss map[string]FS, pid int, what string, ok func(identityOf) bool) {
	t.Helper()
	for e, fs := range fss {
		for round := range 2 {
			if v := checkExact(t, fs, pid, fmt.Sprintf("%s %s, listing %d", e, what, round)); !ok(v) {
				t.Errorf("procfs %s: %+v", what, v)
			}
		}
	}
}

func startExactKid(t *testing.T, c *exec.Cmd) *exactKid {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stdin = r
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Skip(err)
	}
	r.Close()
	k := &exactKid{cmd: c, in: w, out: bufio.NewReader(out), pid: c.Process.Pid}
	t.Cleanup(func() {
		w.Close()
		c.Process.Kill()
		c.Wait()
	})
	return k
}

// waitProc polls /proc/<pid>/<file> (read by read) until ok accepts it, for 10 s at most.
func waitProc(t *testing.T, pid int, file, want string, read func(string) string, ok func(string) bool) {
	t.Helper()
	path := "/proc/" + strconv.Itoa(pid) + "/" + file
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := read(path)
		if ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: %s %q, want %q", pid, file, got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func readText(path string) string { b, _ := os.ReadFile(path); return string(b) }

// waitComm waits until the comm of pid is want.
func waitComm(t *testing.T, pid int, want string) {
	t.Helper()
	waitProc(t, pid, "comm", want, readText, func(s string) bool { return strings.TrimSpace(s) == want })
}

// waitCmdline waits until the cmdline of pid contains want.
func waitCmdline(t *testing.T, pid int, want string) {
	t.Helper()
	waitProc(t, pid, "cmdline", want, readText, func(s string) bool { return strings.Contains(s, want) })
}

// waitExe waits until the exe link of pid resolves to the file target resolves to.
func waitExe(t *testing.T, pid int, target string) {
	t.Helper()
	want, err := filepath.EvalSymlinks(target)
	if err != nil {
		t.Fatal(err)
	}
	readlink := func(path string) string { l, _ := os.Readlink(path); return l }
	waitProc(t, pid, "exe", want, readlink, func(s string) bool { return s == want })
}

// identityOf is what the identity methods and Stat().Comm return for one process.
type identityOf struct {
	StatComm, Comm, Exe string
	CmdLine, Environ    []string
	Cgroups             []Cgroup
	Errs                [5]string
}

func identityFrom(statComm string, p identityReader) identityOf {
	v := identityOf{StatComm: statComm}
	var errs [5]error
	v.Comm, errs[0] = p.Comm()
	v.CmdLine, errs[1] = p.CmdLine()
	v.Exe, errs[2] = p.Executable()
	v.Cgroups, errs[3] = p.Cgroups()
	v.Environ, errs[4] = p.Environ()
	for i, e := range errs {
		v.Errs[i] = errKind(e)
	}
	return v
}

func ourIdentity(p Proc) identityOf {
	st, _ := p.Stat()
	return identityFrom(st.Comm, p)
}

func procfsIdentityOf(t *testing.T, pid int) identityOf {
	pfs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	pp := procfsProc(pfs, pid)
	st, _ := pp.Stat()
	return identityFrom(st.Comm, pp)
}

// checkExact makes a listing of fs in Kepler's order (Stat of every process first) and
// compares pid's identity with procfs's: with only pid asked (a window of it), and, in a
// second listing, with every process asked (whole-listing batches).
func checkExact(t *testing.T, fs FS, pid int, what string) identityOf {
	t.Helper()
	var want identityOf
	for _, all := range []bool{false, true} {
		ps, err := fs.AllProcs()
		if err != nil {
			t.Fatal(err)
		}
		i := indexOf(ps, pid)
		if i < 0 {
			t.Fatalf("%s: pid %d not listed", what, pid)
		}
		for _, p := range ps {
			p.Stat()
		}
		if all {
			for _, c := range identityCalls {
				for _, p := range ps {
					c.call(p)
				}
			}
		}
		got := ourIdentity(ps[i])
		want = procfsIdentityOf(t, pid)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s (every process asked: %v):\n got %+v\nwant %+v (procfs)", what, all, got, want)
		}
	}
	return want
}

// exactFSs are the FSs the tests use, one per engine, with the default options.
func exactFSs(t *testing.T) map[string]FS {
	m := map[string]FS{}
	for _, e := range liveEngines() {
		m[e] = mustFS(t, "/proc", e)
	}
	return m
}

// TestExactAfterExec: a shell that execs sleep, seen first by listings in Kepler's order
// (Stat before Comm, CmdLine and Executable): later listings return the new comm, cmdline
// and exe.
func TestExactAfterExec(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	k := startExactKid(t, exec.Command("/bin/sh", "-c", "read x; exec "+sleep+" 1000"))
	waitComm(t, k.pid, "sh")
	fss := exactFSs(t)
	for e, fs := range fss {
		if v := checkExact(t, fs, k.pid, e+" before exec"); v.Comm != "sh" {
			t.Fatalf("comm %q before exec", v.Comm)
		}
	}
	k.in.WriteString("go\n")
	waitComm(t, k.pid, "sleep")
	checkListings(t, fss, k.pid, "after exec", func(v identityOf) bool {
		return v.Comm == "sleep" && (v.Exe == sleep || strings.HasSuffix(v.Exe, "/sleep"))
	})
}

// TestExactSameCommExec: a shim that execs another program under the same name (comm
// unchanged): cmdline and exe are the new program's.
func TestExactSameCommExec(t *testing.T) {
	sleep, err1 := exec.LookPath("sleep")
	sh, err2 := exec.LookPath("sh")
	if err1 != nil || err2 != nil {
		t.Skip("no sleep or sh binary")
	}
	dir := t.TempDir()
	shim, real := filepath.Join(dir, "a", "prog"), filepath.Join(dir, "b", "prog")
	for link, target := range map[string]string{shim: sh, real: sleep} {
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	k := startExactKid(t, exec.Command(shim, "-c", "read x; exec "+real+" 1000"))
	waitComm(t, k.pid, "prog")
	fss := exactFSs(t)
	for e, fs := range fss {
		checkExact(t, fs, k.pid, e+" shim")
	}
	k.in.WriteString("go\n")
	waitExe(t, k.pid, sleep)
	checkListings(t, fss, k.pid, "after same-comm exec", func(v identityOf) bool {
		return v.Comm == "prog" && len(v.CmdLine) == 2 && v.CmdLine[1] == "1000"
	})
}

// TestExactRename: prctl(PR_SET_NAME) changes comm (and stat's comm) without an exec.
func TestExactRename(t *testing.T) {
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), "PROCURING_EXACT_CHILD=rename")
	k := startExactKid(t, c)
	fss := exactFSs(t)
	for e, fs := range fss {
		checkExact(t, fs, k.pid, e+" before rename")
	}
	k.step(t)
	waitComm(t, k.pid, "renamed-kid")
	checkListings(t, fss, k.pid, "after rename", func(v identityOf) bool { return v.Comm == "renamed-kid" })
}

// TestExactArgvRewrite: a process that overwrites its argv memory (setproctitle).
func TestExactArgvRewrite(t *testing.T) {
	c := exec.Command(os.Args[0], "-test.run=^$", "worker: idle")
	c.Env = append(os.Environ(), "PROCURING_EXACT_CHILD=argv")
	k := startExactKid(t, c)
	waitCmdline(t, k.pid, "worker: idle")
	fss := exactFSs(t)
	for e, fs := range fss {
		checkExact(t, fs, k.pid, e+" before argv rewrite")
	}
	k.step(t)
	waitCmdline(t, k.pid, "worker: busy")
	checkListings(t, fss, k.pid, "after argv rewrite", func(v identityOf) bool {
		return len(v.CmdLine) > 0 && v.CmdLine[len(v.CmdLine)-1] == "worker: busy"
	})
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted ("" if nowhere).
func cgroup2Mount() string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if before, after, ok := strings.Cut(l, " - "); ok && strings.HasPrefix(after, "cgroup2 ") {
			if f := strings.Fields(before); len(f) >= 5 {
				return f[4]
			}
		}
	}
	return ""
}

// TestExactCgroupMove: a process moved to another cgroup (cgroup v2, as root).
func TestExactCgroupMove(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot create a cgroup")
	}
	mnt := cgroup2Mount()
	if mnt == "" {
		t.Skip("no cgroup v2 hierarchy mounted")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	c := startChild(t, sleep, "1000")
	pid := c.Process.Pid
	waitComm(t, pid, "sleep")
	from := ""
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			from = p
		}
	}
	dir := filepath.Join(mnt, fmt.Sprintf("procuring-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a cgroup under %s: %v", mnt, err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(mnt, from, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
		c.Process.Kill()
		c.Wait()
		for range 100 {
			if os.Remove(dir) == nil || errors.Is(os.Remove(dir), os.ErrNotExist) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	fss := exactFSs(t)
	for e, fs := range fss {
		checkExact(t, fs, pid, e+" before cgroup move")
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Skipf("cannot move a process into %s: %v", dir, err)
	}
	want := "/" + filepath.Base(dir)
	for e, fs := range fss {
		for round := range 2 {
			v := checkExact(t, fs, pid, fmt.Sprintf("%s after cgroup move, listing %d", e, round))
			found := false
			for _, cg := range v.Cgroups {
				found = found || cg.HierarchyID == 0 && strings.HasSuffix(cg.Path, want)
			}
			if !found {
				t.Errorf("procfs after cgroup move: %+v", v.Cgroups)
			}
		}
	}
}

// TestExactTransientEMFILE: with the descriptor table full, reads fail; once descriptors
// are free again, later calls return the values (procfs's), not the remembered error.
func TestExactTransientEMFILE(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	c := startChild(t, sleep, "1000")
	pid := c.Process.Pid
	waitComm(t, pid, "sleep")
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	for e, fs := range exactFSs(t) {
		ps, _ := fs.AllProcs()
		for _, p := range ps {
			p.Stat()
		}
		i := indexOf(ps, pid)
		if i < 0 {
			t.Fatal("child not listed")
		}
		// The scanner of windows reads the child alone (and holds its stat): the next window
		// of the child frees no descriptor before it opens comm.
		ps[i].NewStatus()
		// Fill the table (under a low soft limit, so that it is quick), then ask.
		low := lim
		low.Cur = uint64(fdCount(t) + 64)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
			t.Skipf("setrlimit: %v", err)
		}
		var fill []int
		var errFill error
		for {
			fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				errFill = err
				break
			}
			fill = append(fill, fd)
		}
		_, errFull := ps[i].Comm()
		_, errFull2 := ps[i].CmdLine()
		for _, fd := range fill {
			syscall.Close(fd)
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d descriptors filled the table (%v); then Comm %v, CmdLine %v", e, len(fill), errFill, errFull, errFull2)
		// io_uring opens into its own table of direct descriptors: not limited by it.
		if e == EngineSync && (errFull == nil || errFull2 == nil) {
			t.Errorf("%s: no error with the descriptor table full (the test did not test)", e)
		}
		for round := range 2 {
			checkExact(t, fs, pid, fmt.Sprintf("%s after EMFILE, listing %d", e, round))
		}
		// A Proc not from a listing, too.
		p, err := fs.Proc(pid)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := p.Comm(); err != nil || s != "sleep" {
			t.Errorf("%s: single Proc after EMFILE: %q %v", e, s, err)
		}
	}
}

// TestReadDirectAfterHugeFile: the buffer of direct reads, dropped after a file over
// 1 MiB, still reads the next file whole.
func TestReadDirectAfterHugeFile(t *testing.T) {
	dir := t.TempDir()
	for pid, size := range map[int]int{7: 3 << 20, 8: 5} {
		os.MkdirAll(filepath.Join(dir, strconv.Itoa(pid)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(pid), "cmdline"), []byte(strings.Repeat("x", size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		b := readDirect(dir, FileCmdline, []int32{7})
		if s, ok := b.ids[0].text(FileCmdline); !ok || len(s) != maxFileRead {
			t.Fatalf("huge file: %d bytes, %v (want the first %d)", len(s), ok, maxFileRead)
		}
		b = readDirect(dir, FileCmdline, []int32{8})
		if s, ok := b.ids[0].text(FileCmdline); !ok || s != "xxxxx" {
			t.Fatalf("after a huge file: %q %v", s, ok)
		}
	}
}
