package procuring

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/procfs"
)

// TestLiveDifferential compares every method of every process of /proc with procfs's
// answer, for each engine. Our children (idle: hostile comm, long argv, a zombie) must be
// equal field for field; other processes may move between the two reads, so their
// counters are compared within a tolerance and their identity fields exactly.
func TestLiveDifferential(t *testing.T) {
	kids := startKids(t)
	pfs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range liveEngines() {
		t.Run(engine, func(t *testing.T) {
			fs := mustFS(t, "/proc", engine)
			ps, err := fs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.IsSortedFunc(ps, func(a, b Proc) int { return a.PID - b.PID }) {
				t.Error("AllProcs not in ascending pid order")
			}
			theirs, err := pfs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			have := map[int]bool{}
			for _, p := range ps {
				have[p.PID] = true
			}
			for _, p := range theirs {
				// procfs listed it after us: it may have been born since; but anything
				// that existed before both listings must be in ours.
				if !have[p.PID] && p.PID < ps[len(ps)-1].PID && kids.pids[p.PID] != "" {
					t.Errorf("pid %d missing from AllProcs", p.PID)
				}
			}
			for pid, what := range kids.pids {
				if !have[pid] {
					t.Errorf("child %d (%s) missing from AllProcs", pid, what)
				}
			}
			before := map[int]string{}
			for _, p := range ps {
				before[p.PID] = fingerprint(p.PID)
			}
			compared, permission, changed := 0, 0, 0
			for _, p := range ps {
				tp, err := pfs.Proc(p.PID)
				if err != nil {
					continue // gone
				}
				_, isKid := kids.pids[p.PID]
				tol := tolerant
				if isKid {
					tol = exact
				}
				diffs, gone := diffProc(p, tp, tol)
				if gone && !isKid {
					continue
				}
				if !isKid && fingerprint(p.PID) != before[p.PID] {
					changed++
					continue
				}
				compared++
				if _, err := p.Executable(); os.IsPermission(err) {
					permission++
				}
				if len(diffs) > 0 {
					t.Errorf("pid %d (%s): %d differences:\n  %s", p.PID, kids.pids[p.PID], len(diffs), strings.Join(diffs, "\n  "))
				}
			}
			if compared < len(kids.pids)+2 {
				t.Errorf("only %d processes compared", compared)
			}
			t.Logf("%s: %d processes compared (%d with exe not permitted, %d changed identity meanwhile), %d library scans",
				engine, compared, permission, changed, fs.ScanCount())
			// Single processes (not from a listing), and Self.
			for pid, what := range kids.pids {
				p, err := fs.Proc(pid)
				if err != nil {
					t.Fatalf("Proc(%d): %v", pid, err)
				}
				tp, _ := pfs.Proc(pid)
				if diffs, _ := diffProc(p, tp, exact); len(diffs) > 0 {
					t.Errorf("single pid %d (%s): %s", pid, what, strings.Join(diffs, "\n  "))
				}
			}
			self, err := fs.Self()
			if err != nil || self.PID != os.Getpid() {
				t.Fatalf("Self: %v %v", self.PID, err)
			}
			tself, _ := pfs.Self()
			if diffs, _ := diffProc(self, tself, moving); len(diffs) > 0 {
				t.Errorf("self: %s", strings.Join(diffs, "\n  "))
			}
		})
	}
}

// TestHostileValues checks a few values directly (not only through procfs).
func TestHostileValues(t *testing.T) {
	kids := startKids(t)
	for _, engine := range liveEngines() {
		t.Run(engine, func(t *testing.T) {
			fs := mustFS(t, "/proc", engine)
			ps, err := fs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for _, p := range ps {
				what, ok := kids.pids[p.PID]
				if !ok {
					continue
				}
				seen++
				st, err := p.Stat()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				comm, _ := p.Comm()
				switch {
				case what == "zombie":
					if st.State != "Z" || comm != "zo mb)ie" || st.Comm != "zo mb)ie" {
						t.Errorf("zombie: state %q comm %q stat comm %q", st.State, comm, st.Comm)
					}
					if exe, err := p.Executable(); exe != "" || err != nil {
						t.Errorf("zombie exe %q %v", exe, err)
					}
					if cl, err := p.CmdLine(); len(cl) != 0 || err != nil {
						t.Errorf("zombie cmdline %q %v", cl, err)
					}
				case strings.HasPrefix(what, "sleep as"):
					want := kids.names[p.PID]
					if len(want) > 15 {
						want = want[:15]
					}
					if st.Comm != want {
						t.Errorf("stat comm %q, want %q", st.Comm, want)
					}
					if comm != strings.TrimSpace(want) {
						t.Errorf("comm %q, want %q", comm, strings.TrimSpace(want))
					}
				case what == "sh with long argv":
					cl, err := p.CmdLine()
					if err != nil || len(strings.Join(cl, "\x00")) < 10<<10 || cl[3] != "argv0 with space" || cl[len(cl)-1] != "tail" {
						t.Errorf("long cmdline: %d args, err %v", len(cl), err)
					}
					env, err := p.Environ()
					if err != nil || !slices.Contains(env, "NL=x\ny") || !slices.Contains(env, "EMPTY=") {
						t.Errorf("environ %q %v", env, err)
					}
				}
			}
			if seen != len(kids.pids) {
				t.Errorf("saw %d of %d children", seen, len(kids.pids))
			}
		})
	}
}

// TestKernelThreadErrors: a kernel thread has no environ (ESRCH for both), an empty exe
// (no error) and an empty cmdline.
func TestKernelThreadErrors(t *testing.T) {
	data, err := os.ReadFile("/proc/2/stat")
	if err != nil || !strings.Contains(string(data), "(kthreadd)") {
		t.Skip("no kthreadd as pid 2 here")
	}
	tp, _ := procfs.NewProc(2)
	_, perr := tp.Environ()
	for _, engine := range liveEngines() {
		fs := mustFS(t, "/proc", engine)
		ps, _ := fs.AllProcs()
		i := slices.IndexFunc(ps, func(p Proc) bool { return p.PID == 2 })
		if i < 0 {
			t.Fatal("pid 2 not listed")
		}
		for _, p := range []Proc{ps[i], must(fs.Proc(2))} {
			env, err := p.Environ()
			if errKind(err) != errKind(perr) || env == nil || len(env) != 0 {
				t.Errorf("%s: environ of kthreadd: %q %v (%s), procfs %v (%s)", engine, env, err, errKind(err), perr, errKind(perr))
			}
			if !errors.Is(err, syscall.ESRCH) && errors.Is(perr, syscall.ESRCH) {
				t.Errorf("%s: want ESRCH, got %v", engine, err)
			}
			if exe, err := p.Executable(); exe != "" || err != nil {
				t.Errorf("%s: exe %q %v", engine, exe, err)
			}
		}
	}
}

// TestThreadProc: FS.Proc of a thread id (not listed, but readable under /proc) works as
// in procfs.
func TestThreadProc(t *testing.T) {
	ents, _ := os.ReadDir("/proc/self/task")
	tid := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n != os.Getpid() {
			tid = n
			break
		}
	}
	if tid == 0 {
		t.Skip("no second thread")
	}
	tp, err := procfs.NewProc(tid)
	if err != nil {
		t.Skip(err)
	}
	for _, engine := range liveEngines() {
		fs := mustFS(t, "/proc", engine)
		p, err := fs.Proc(tid)
		if err != nil {
			t.Fatal(err)
		}
		if diffs, gone := diffProc(p, tp, moving); len(diffs) > 0 && !gone {
			t.Errorf("%s: thread %d: %s", engine, tid, strings.Join(diffs, "\n  "))
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestVanished: a process that exits after the listing gives NotExist errors (and an
// empty exe with no error), like procfs.
func TestVanished(t *testing.T) {
	for _, engine := range liveEngines() {
		t.Run(engine, func(t *testing.T) {
			c := startChild(t, "sleep", "3600")
			pid := c.Process.Pid
			fs := mustFS(t, "/proc", engine)
			ps, err := fs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			single, err := fs.Proc(pid)
			if err != nil {
				t.Fatal(err)
			}
			c.Process.Kill()
			c.Wait()
			i := slices.IndexFunc(ps, func(p Proc) bool { return p.PID == pid })
			if i < 0 {
				t.Fatal("child not listed")
			}
			if engine == EngineBPF {
				// The walk read stat (and comm) while listing, before the exit: the Proc
				// answers with that batch's values (as any engine's does once its batch is
				// read). Refresh drops them: the next calls read again, as procfs does.
				if st, err := ps[i].Stat(); err != nil || st.PID != pid {
					t.Errorf("Stat of a process listed by the walk, then gone: %+v %v", st, err)
				}
				if comm, err := ps[i].Comm(); err != nil || comm != "sleep" {
					t.Errorf("Comm of a process listed by the walk, then gone: %q %v", comm, err)
				}
				ps.Refresh()
			}
			tp := procfsProc(fs.Procfs(), pid)
			for _, p := range []Proc{ps[i], single} {
				diffs, _ := diffProc(p, tp, exact)
				if len(diffs) > 0 {
					t.Errorf("%s", strings.Join(diffs, "\n  "))
				}
				if _, err := p.Stat(); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Stat of a vanished process: %v", err)
				}
				if _, err := p.Comm(); !os.IsNotExist(err) {
					t.Errorf("Comm of a vanished process: %v", err)
				}
				if exe, err := p.Executable(); exe != "" || err != nil {
					t.Errorf("Executable of a vanished process: %q %v", exe, err)
				}
			}
			if _, err := fs.Proc(pid); !os.IsNotExist(err) {
				t.Errorf("FS.Proc of a vanished pid: %v", err)
			}
		})
	}
}

// TestUnprivileged runs TestUnprivilegedChild as nobody: other users' exe, environ and io
// must give permission errors exactly where procfs's do.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("PROCURING_TEST_UNPRIV") != "" {
		t.Skip("in the child")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to nobody")
	}
	if testing.Short() {
		t.Skip("short")
	}
	dir, err := os.MkdirTemp("", "procuring-unpriv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "procuring.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(bin, "-test.run=^TestUnprivilegedChild$", "-test.v", "-test.count=1")
	c.Dir = dir
	c.Env = append(os.Environ(), "PROCURING_TEST_UNPRIV=1", "HOME="+dir)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestUnprivilegedChild") {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func TestUnprivilegedChild(t *testing.T) {
	if os.Getenv("PROCURING_TEST_UNPRIV") == "" {
		t.Skip("run by TestUnprivileged")
	}
	if os.Geteuid() == 0 {
		t.Fatal("child runs as root")
	}
	pfs, _ := procfs.NewFS("/proc")
	// A mount point procfs accepts (it only stats it) but the library cannot open: auto
	// falls back to procfs and says why; a forced engine fails.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	fs, err := NewFS(dir)
	if err != nil {
		t.Fatalf("auto on an unreadable directory: %v", err)
	}
	if name, reason := fs.Engine(); name != EngineProcfs || (cgoEnabled && !strings.Contains(reason, "ermission denied")) {
		t.Errorf("auto on an unreadable directory: %s (%s)", name, reason)
	} else {
		t.Logf("auto on an unreadable directory: %s (%s)", name, reason)
	}
	if _, err := NewFSWithOptions(dir, Options{Engine: EngineSync}); err == nil {
		t.Error("forced sync on an unreadable directory: no error")
	}
	for _, engine := range liveEngines() {
		fs := mustFS(t, "/proc", engine)
		ps, err := fs.AllProcs()
		if err != nil {
			t.Fatal(err)
		}
		denied := map[string]int{}
		before := map[int]string{}
		for _, p := range ps {
			before[p.PID] = fingerprint(p.PID)
		}
		for _, p := range ps {
			tp, err := pfs.Proc(p.PID)
			if err != nil {
				continue
			}
			diffs, gone := diffProc(p, tp, tolerant)
			if gone || fingerprint(p.PID) != before[p.PID] {
				continue
			}
			if len(diffs) > 0 {
				t.Errorf("%s pid %d: %s", engine, p.PID, strings.Join(diffs, "\n  "))
			}
			if _, err := p.Environ(); os.IsPermission(err) {
				denied["environ"]++
			}
			if _, err := p.IO(); os.IsPermission(err) {
				denied["io"]++
			}
			if _, err := p.Executable(); os.IsPermission(err) {
				denied["exe"]++
			}
		}
		if denied["environ"] == 0 || denied["io"] == 0 || denied["exe"] == 0 {
			t.Errorf("%s: expected permission errors for root's processes, got %v", engine, denied)
		}
		t.Logf("%s as uid %d: permission errors %v", engine, os.Geteuid(), denied)
	}
}
