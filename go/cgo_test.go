//go:build cgo && ((linux && amd64) || procuring_system)

package procuring

import (
	"errors"
	"math/bits"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBatching: a file asked of every process of a listing is read in a few small
// windows and then one library scan for the rest; later listings read the files the
// previous one asked of most processes in their first batch; a file asked of one process
// reads that process only.
func TestBatching(t *testing.T) {
	startKids(t)
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			fs := mustFS(t, "/proc", engine)
			be := backendOf(t, fs)
			ps, err := fs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			if n := fs.ScanCount(); n != 0 {
				t.Fatalf("AllProcs scanned %d times", n)
			}
			// Windows of 1, 2, 4, ... pids while the loop goes on, then the rest at once.
			maxScans := int64(bits.Len(uint(len(ps)/4)) + 1)
			for _, p := range ps {
				p.Stat()
			}
			if n := fs.ScanCount(); n < 2 || n > maxScans {
				t.Fatalf("Stat of %d procs: %d scans, want 2..%d", len(ps), n, maxScans)
			}
			if c := be.lastScan(); int(c.returned) < len(ps)*3/4 {
				t.Fatalf("Stat of %d procs: last batch %+v, want most of them", len(ps), c)
			}
			before, direct0 := fs.ScanCount(), fs.st.direct.Load()
			for _, p := range ps {
				p.Comm()
				p.Stat()
				p.Executable()
			}
			// Comm and Executable go window by window in step, and then whole; identity files
			// without stat are read directly (as procfs does: a library batch would read
			// stat too).
			n, d := fs.ScanCount()-before, fs.st.direct.Load()-direct0
			if n != 0 || d < 4 || d > 2*maxScans+2 {
				t.Fatalf("Comm+Executable: %d scans and %d direct reads, want 0 and 4..%d", n, d, 2*maxScans+2)
			}
			ps2, _ := fs.AllProcs()
			before = fs.ScanCount()
			for _, p := range ps2 {
				p.Stat()
				p.Comm()
				p.Executable()
			}
			if n := fs.ScanCount() - before; n != 1 {
				t.Fatalf("second listing: %d scans, want 1 (stat, comm and exe asked of all before)", n)
			}
			// Values are as of the batch: a second call does not read again.
			self := indexOf(ps2, os.Getpid())
			a, _ := ps2[self].Stat()
			busy(20 * time.Millisecond)
			b, _ := ps2[self].Stat()
			if a != b || fs.ScanCount() != before+1 {
				t.Fatalf("Stat of a listed Proc changed within its batch")
			}
			// Procs.Refresh: the next call reads again.
			ps2.Refresh()
			c, _ := ps2[self].Stat()
			if fs.ScanCount() != before+2 || c.UTime+c.STime < a.UTime+a.STime {
				t.Fatalf("after Refresh: %d scans", fs.ScanCount()-before)
			}
			// Proc.Refresh: that Proc reads on every call from now on.
			p := ps2[self]
			p.Refresh()
			p.Stat()
			p.Stat()
			if fs.ScanCount() != before+4 {
				t.Fatalf("refreshed Proc: %d scans, want 4", fs.ScanCount()-before)
			}
			// Single Procs read on every call (identity files directly, as procfs).
			sp, _ := fs.Self()
			direct := fs.st.direct.Load()
			sp.Comm()
			sp.Comm()
			sp.IO()
			sp.IO()
			if fs.ScanCount() != before+6 || fs.st.direct.Load() != direct+2 {
				t.Fatalf("single Proc: %d scans, %d direct reads, want 6 and 2", fs.ScanCount()-before, fs.st.direct.Load()-direct)
			}
			// A listing that asks only Stat (comm is read with it: the last listing asked
			// it of all), then one that asks Comm of one process: stat alone in the first
			// batch, then one scan of that process.
			ps3, _ := fs.AllProcs()
			for _, p := range ps3 {
				p.Stat()
			}
			ps4, _ := fs.AllProcs()
			before = fs.ScanCount()
			for _, p := range ps4 {
				p.Stat()
			}
			if c := be.lastScan(); fs.ScanCount() != before+1 || c.returned == 0 || int(c.opened) > len(ps4)/4 {
				t.Fatalf("listing after one that asked only Stat: %+v, want stat only (held)", c)
			}
			direct = fs.st.direct.Load()
			if _, err := ps4[len(ps4)/2].Comm(); err != nil {
				t.Fatal(err)
			}
			if n, d := fs.ScanCount()-before, fs.st.direct.Load()-direct; n != 1 || d != 1 {
				t.Fatalf("Comm of one process: %d scans, %d direct reads, want 0 and 1", n-1, d)
			}
			// Comm of a run of adjacent processes (a tenth of the listing: a pod's workers
			// started together): windows, never the whole listing.
			before, direct = fs.ScanCount(), fs.st.direct.Load()
			for _, p := range ps4[:len(ps4)/10] {
				p.Comm()
			}
			if n, d := fs.ScanCount()-before, fs.st.direct.Load()-direct; n != 0 || d > maxScans {
				t.Fatalf("Comm of %d adjacent processes: %d scans, %d direct reads, want 0 and at most %d", len(ps4)/10, n, d, maxScans)
			}
			// IO of one process: one library scan of that process.
			before = fs.ScanCount()
			if _, err := ps4[len(ps4)/2].IO(); err != nil {
				t.Fatal(err)
			}
			if n := fs.ScanCount() - before; n != 1 {
				t.Fatalf("IO of one process: %d scans, want 1", n)
			}
		})
	}
}

func indexOf(ps Procs, pid int) int {
	for i, p := range ps {
		if p.PID == pid {
			return i
		}
	}
	return -1
}

func busy(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
	}
}

// TestPrefetch: Options.Prefetch makes the first batch read those files.
func TestPrefetch(t *testing.T) {
	fs, err := NewFSWithOptions("/proc", Options{Engine: EngineSync, Prefetch: []File{FileComm, FileCmdline}})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ps, _ := fs.AllProcs()
	for _, p := range ps {
		p.Stat()
		p.Comm()
		p.CmdLine()
	}
	if n := fs.ScanCount(); n != 1 {
		t.Fatalf("%d scans, want 1", n)
	}
}

// TestSteadyStateAllocs: once the identity texts are known, a listing plus Stat, Comm and
// Executable of every process allocates a constant number of times, not per process.
func TestSteadyStateAllocs(t *testing.T) {
	startKids(t)
	fs := mustFS(t, "/proc", EngineSync)
	allocsPerListing(t, fs, 40, "Stat+Comm+Executable", func(p Proc) {
		st, _ := p.Stat()
		_ = st.CPUTime()
		p.Comm()
		p.Executable()
	})
}

// allocsPerListing fails t when a listing of fs plus each(p) of every process allocates more
// than limit times (measured after two warm-up listings).
func allocsPerListing(t *testing.T, fs FS, limit float64, what string, each func(Proc)) {
	t.Helper()
	scan := func() {
		ps, err := fs.AllProcs()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			each(p)
		}
	}
	scan()
	scan()
	ps, _ := fs.AllProcs()
	allocs := testing.AllocsPerRun(20, scan)
	t.Logf("%d processes: %.1f allocs per listing", len(ps), allocs)
	if allocs > limit {
		t.Errorf("%s of %d processes: %.1f allocs, want a constant", what, len(ps), allocs)
	}
}

// autoEngine is what auto picks here: bpf where the library can load it (root, or CAP_BPF +
// CAP_PERFMON), else sync.
func autoEngine() string {
	fs, err := NewFSWithOptions("/proc", Options{Engine: EngineBPF})
	if err != nil {
		return EngineSync
	}
	fs.Close()
	return EngineBPF
}

// TestEngineSelection: PROCURING_ENGINE picks the engine; an unknown one is an error.
func TestEngineSelection(t *testing.T) {
	auto := autoEngine()
	for env, want := range map[string]string{"uring": EngineURing, "sync": EngineSync, "procfs": EngineProcfs, "": auto, "auto": auto} {
		t.Setenv(EnvEngine, env)
		fs, err := NewFS("/proc")
		if err != nil {
			t.Fatalf("%q: %v", env, err)
		}
		name, reason := fs.Engine()
		if name != want || reason == "" {
			t.Errorf("PROCURING_ENGINE=%q: engine %q (%s), want %q", env, name, reason, want)
		}
		fs.Close()
	}
	t.Setenv(EnvEngine, "turbo")
	if _, err := NewFS("/proc"); err == nil || !strings.Contains(err.Error(), "turbo") {
		t.Errorf("unknown engine: %v", err)
	}
	// A directory the library cannot scan: NewFS fails like procfs for a missing mount
	// point, and a forced engine reports the library's error.
	t.Setenv(EnvEngine, "")
	if _, err := NewFS("/nonexistent"); !os.IsNotExist(errors.Unwrap(err)) && err == nil {
		t.Errorf("missing mount point: %v", err)
	}
}

// TestForcedURingRefused runs TestNoURingChild in a process where io_uring_setup fails
// (seccomp): a forced uring must make NewFS fail with the cause, auto must use sync (or
// bpf, which never uses io_uring).
func TestForcedURingRefused(t *testing.T) {
	if os.Getenv("PROCURING_TEST_CHILD") != "" {
		t.Skip("in the child")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("seccomp filter written for amd64/arm64")
	}
	c := exec.Command(os.Args[0], "-test.run=^TestNoURingChild$", "-test.v", "-test.count=1")
	c.Env = append(os.Environ(), "PROCURING_TEST_CHILD=no-uring")
	out, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNoURingChild") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

func TestNoURingChild(t *testing.T) {
	if os.Getenv("PROCURING_TEST_CHILD") != "no-uring" {
		t.Skip("run by TestForcedURingRefused")
	}
	_, err := NewFSWithOptions("/proc", Options{Engine: EngineURing})
	var le *LibraryError
	if !errors.As(err, &le) || le.Code != -3 || !strings.Contains(err.Error(), "uring") {
		t.Fatalf("forced uring without io_uring: %v", err)
	}
	t.Logf("forced uring: %v", err)
	t.Setenv(EnvEngine, "uring")
	if _, err := NewFS("/proc"); err == nil || !strings.Contains(err.Error(), EnvEngine) {
		t.Fatalf("PROCURING_ENGINE=uring without io_uring: %v", err)
	}
	t.Setenv(EnvEngine, "")
	fs, err := NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	name, reason := fs.Engine()
	if name != autoEngine() {
		t.Fatalf("auto without io_uring: %s (%s)", name, reason)
	}
	ps, err := fs.AllProcs()
	if err != nil || len(ps) == 0 {
		t.Fatal(err)
	}
	if _, err := ps[0].Stat(); err != nil {
		t.Fatal(err)
	}
}

// TestClose: calls after Close fail with ErrClosed; Close twice is fine.
func TestClose(t *testing.T) {
	fs := mustFS(t, "/proc", EngineSync)
	ps, _ := fs.AllProcs()
	self, _ := fs.Self()
	fs.Close()
	fs.Close()
	if _, err := ps[0].Stat(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stat after Close: %v", err)
	}
	if _, err := self.Comm(); !errors.Is(err, ErrClosed) {
		t.Errorf("Comm after Close: %v", err)
	}
	if _, err := fs.AllProcs(); !errors.Is(err, ErrClosed) {
		t.Errorf("AllProcs after Close: %v", err)
	}
}

func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func rssKiB(t *testing.T) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// TestLeaks creates, scans and frees scanners many times and checks that descriptors and
// RSS do not grow: with Close, and with the garbage collector's cleanup (one FS alive at a
// time for RSS; many at once only for descriptors, since the C allocator keeps the peak).
func TestLeaks(t *testing.T) {
	round := func(i int, closeIt bool) {
		engine := EngineSync
		if i%2 == 1 {
			engine = EngineURing
		}
		fs, err := NewFSWithOptions("/proc", Options{Engine: engine})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := fs.AllProcs()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			p.Stat()
			p.NewStatus()
			p.IO()
			p.Comm()
			p.CmdLine()
		}
		self, _ := fs.Self()
		self.Stat()
		if _, err := fs.Scan(FileStatus, FileEnviron); err != nil {
			t.Fatal(err)
		}
		if closeIt {
			fs.Close()
		}
	}
	settle := func() {
		for range 3 {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		debug.FreeOSMemory()
	}
	for i := range 20 { // warm up
		round(i, true)
	}
	settle()
	trimCHeap()
	fd0, rss0 := fdCount(t), rssKiB(t)
	for i := range 300 {
		round(i, true)
	}
	settle()
	trimCHeap()
	fd1, rss1 := fdCount(t), rssKiB(t)
	for i := range 200 {
		round(i, false)
		runtime.GC() // the FS of this round is unreachable: its cleanup frees the scanners
		time.Sleep(time.Millisecond)
	}
	settle()
	trimCHeap()
	fd2, rss2 := fdCount(t), rssKiB(t)
	for i := range 100 {
		round(i, false)
	}
	settle()
	trimCHeap()
	fd3, rss3 := fdCount(t), rssKiB(t)
	t.Logf("fds %d -> %d (Close) -> %d (cleanup) -> %d (100 left to cleanup at once); RSS %d -> %d -> %d -> %d KiB",
		fd0, fd1, fd2, fd3, rss0, rss1, rss2, rss3)
	if fd1 > fd0+2 || fd2 > fd0+2 || fd3 > fd0+2 {
		t.Errorf("descriptors grew: %d -> %d -> %d -> %d", fd0, fd1, fd2, fd3)
	}
	if rss1 > rss0+8<<10 || rss2 > rss0+16<<10 {
		t.Errorf("RSS grew: %d -> %d -> %d KiB", rss0, rss1, rss2)
	}
}

// TestConcurrent uses one FS and its listings from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	for _, engine := range liveEngines() {
		t.Run(engine, func(t *testing.T) { testConcurrent(t, engine) })
	}
}

func testConcurrent(t *testing.T, engine string) {
	fs := mustFS(t, "/proc", engine)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				ps, err := fs.AllProcs()
				if err != nil {
					t.Error(err)
					return
				}
				for i, p := range ps {
					switch (i + g) % 4 {
					case 0:
						p.Stat()
					case 1:
						p.Comm()
					case 2:
						p.NewStatus()
					default:
						p.CmdLine()
					}
				}
				if g == 0 {
					ps.Refresh()
				}
				if self, err := fs.Self(); err == nil {
					self.Stat()
				}
			}
		}()
	}
	wg.Wait()
}

// TestSpareStats: the stat arrays of unreachable batches are reused (spareStats), never one
// a reachable listing still reads: the first listing's values are the same after many later
// listings and collections.
func TestSpareStats(t *testing.T) {
	// Children of two comms, alternating in pid order; one is killed after the first listing,
	// so a later listing has the others one record earlier: an array shared with the first
	// listing would show it another child's comm.
	kids := map[int]bool{}
	var cmds []*exec.Cmd
	for i := range spareMin + 2 {
		args := []string{"sleep", "600"}
		if i%2 == 1 {
			args = []string{"tail", "-f", "/dev/null"}
		}
		c := startChild(t, args[0], args[1:]...)
		kids[c.Process.Pid] = true
		cmds = append(cmds, c)
	}
	for k, e := range liveEngines() {
		fs := mustFS(t, "/proc", e)
		first, err := fs.AllProcs()
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]ProcStat{}
		for _, p := range first {
			if s, err := p.Stat(); err == nil && kids[p.PID] {
				want[p.PID] = s
			}
		}
		if len(want) != len(kids) {
			t.Fatalf("%s: %d of %d children in the listing", e, len(want), len(kids))
		}
		gone := cmds[k].Process.Pid
		cmds[k].Process.Kill()
		cmds[k].Wait()
		delete(kids, gone)
		delete(want, gone)
		for range 8 {
			ps, err := fs.AllProcs()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				p.Stat()
			}
			runtime.GC()
		}
		for _, p := range first {
			w, ok := want[p.PID]
			if !ok {
				continue
			}
			got, err := p.Stat()
			if err != nil || got.PID != w.PID || got.Comm != w.Comm || got.Starttime != w.Starttime ||
				got.PPID != w.PPID || got.VSize != w.VSize {
				t.Fatalf("%s: pid %d: stat of the first listing changed:\n got %+v, %v\nwant %+v", e, p.PID, got, err, w)
			}
		}
	}
}
