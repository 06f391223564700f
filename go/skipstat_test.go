//go:build cgo && ((linux && amd64) || procuring_system)

package procuring

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// With Options.IdentityCache, follow-up batches of a listing pass scanSkipStat (stat is
// not read again), and every scan of the listing scanner passes scanOmitCached (texts the
// library serves from its identity cache are taken from the Go-side cache). These tests
// check both through the counters of the library's last scan, on a hand-made proc tree
// (exact counts: no process comes or goes) and on the live /proc. Every file is read for
// the whole listing (wholeListing: no windows), so that each call loop is one batch.

// cacheFS is an FS with Options.IdentityCache whose listings read whole.
func cacheFS(t *testing.T, root, engine string) FS {
	t.Helper()
	fs, err := NewFSWithOptions(root, Options{Engine: engine, IdentityCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	fs.st.wholeListing = true
	return fs
}

func backendOf(t *testing.T, fs FS) *cBackend {
	t.Helper()
	b, ok := fs.st.be.(*cBackend)
	if !ok {
		t.Fatalf("engine %s has no library backend", fs.st.engine)
	}
	return b
}

// treeProc is one fake process of a hand-made tree.
type treeProc struct {
	start uint64
	comm  string // also the program name in cmdline, environ and exe
}

func (p treeProc) files(pid int) map[string]string {
	return map[string]string{
		"stat": fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194560 137 0 0 0 3 5 0 0 20 0 1 0 %d 4710400 384 "+
			"18446744073709551615 94 95 140 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n", pid, p.comm, pid, pid, p.start),
		"comm":    p.comm + "\n",
		"cmdline": "/bin/" + p.comm + "\x00--pid\x00" + strconv.Itoa(pid) + "\x00",
		"environ": "PROG=" + p.comm + "\x00START=" + strconv.FormatUint(p.start, 10) + "\x00",
		"cgroup":  "0::/" + p.comm + ".scope\n",
	}
}

// write creates or rewrites (in place: held descriptors see the new text) the files of pid.
func (p treeProc) write(t *testing.T, root string, pid int) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range p.files(pid) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "exe")
	os.Remove(exe)
	if err := os.Symlink("/usr/bin/"+p.comm, exe); err != nil {
		t.Fatal(err)
	}
}

func makeTree(t *testing.T, n int) (string, map[int]treeProc) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "stat"), []byte("cpu  1 2 3 4 5 6 7 8 9 10\nbtime 1700000000\n"), 0o644)
	procs := map[int]treeProc{}
	for i := range n {
		pid := 200 + i
		procs[pid] = treeProc{start: uint64(1000 + i), comm: "prog" + strconv.Itoa(i)}
		procs[pid].write(t, root, pid)
	}
	return root, procs
}

// identityCalls are the identity methods, each run on every Proc of a listing.
var identityCalls = []struct {
	name string
	call func(p Proc) (any, error)
}{
	{"Comm", func(p Proc) (any, error) { return p.Comm() }},
	{"Executable", func(p Proc) (any, error) { return p.Executable() }},
	{"Cgroups", func(p Proc) (any, error) { return p.Cgroups() }},
	{"Environ", func(p Proc) (any, error) { return p.Environ() }},
	{"CmdLine", func(p Proc) (any, error) { return p.CmdLine() }},
}

func procfsIdentity(pp procfs.Proc, name string) (any, error) {
	switch name {
	case "Comm":
		return pp.Comm()
	case "Executable":
		return pp.Executable()
	case "Cgroups":
		return pp.Cgroups()
	case "Environ":
		return pp.Environ()
	default:
		return pp.CmdLine()
	}
}

// checkIdentity compares every identity method of every Proc of ps with procfs's.
func checkIdentity(t *testing.T, pfs procfs.FS, ps Procs, only map[int]bool) {
	t.Helper()
	for _, p := range ps {
		if only != nil && !only[p.PID] {
			continue
		}
		pp, err := pfs.Proc(p.PID)
		if err != nil {
			continue
		}
		for _, c := range identityCalls {
			a, e1 := c.call(p)
			b, e2 := procfsIdentity(pp, c.name)
			if errKind(e1) != errKind(e2) || !reflect.DeepEqual(a, b) {
				t.Errorf("pid %d %s: %q %v, procfs %q %v", p.PID, c.name, a, e1, b, e2)
			}
		}
	}
}

// TestSkipStatTree: on a tree of n processes, the counters of each scan show what was
// read: follow-up batches read no stat, and identity texts served from the library's
// cache are not in the snapshot (its arena holds only the comm of stat).
func TestSkipStatTree(t *testing.T) {
	const n = 40
	root, procs := makeTree(t, n)
	pfs, err := procfs.NewFS(root)
	if err != nil {
		t.Fatal(err)
	}
	statComm := func() int { // bytes of stat's comm of every process: the arena of a scan
		s := 0
		for _, p := range procs {
			s += len(p.comm)
		}
		return s
	}
	for _, engine := range []string{EngineURing, EngineSync} {
		t.Run(engine, func(t *testing.T) {
			fs := cacheFS(t, root, engine)
			be := backendOf(t, fs)
			ps, err := fs.AllProcs()
			if err != nil || len(ps) != n {
				t.Fatalf("%d procs, %v", len(ps), err)
			}
			for _, p := range ps {
				if _, err := p.Stat(); err != nil {
					t.Fatal(err)
				}
			}
			if c := be.lastScan(); c.returned != n || c.opened != n || c.heldReads != 0 {
				t.Fatalf("stat batch: %+v", c)
			}
			// Cold follow-ups: one file per process each, no stat.
			for k, c := range identityCalls {
				for _, p := range ps {
					c.call(p)
				}
				got := be.lastScan()
				if got.returned != n || got.opened != n || got.heldReads != 0 || got.cached != 0 {
					t.Errorf("%s after Stat: %+v, want %d opened and no held read (stat not read again)", c.name, got, n)
				}
				if fs.ScanCount() != int64(k+2) {
					t.Errorf("%s: %d scans", c.name, fs.ScanCount())
				}
			}
			checkIdentity(t, pfs, ps, nil)

			// Warm listings: one batch (stat and the sticky identity files), identity served
			// from the library's cache and left out of the snapshot.
			for round := range 3 {
				before := fs.ScanCount()
				ps, _ := fs.AllProcs()
				for _, p := range ps {
					p.Stat()
				}
				got := be.lastScan()
				// stat read once per process (held, or opened when the library holds no more
				// descriptors), every identity text from the caches.
				if got.returned != n || got.heldReads+got.opened != n || got.cached != 5*n {
					t.Errorf("round %d: %+v, want %d stat reads and %d cached texts", round, got, n, 5*n)
				}
				if got.arenaLen != statComm() {
					t.Errorf("round %d: arena %d bytes, want %d (stat's comm only: cached texts copied)", round, got.arenaLen, statComm())
				}
				checkIdentity(t, pfs, ps, nil)
				if fs.ScanCount() != before+1 || got.rescans != 0 {
					t.Errorf("round %d: %d scans, %d rescans", round, fs.ScanCount()-before, got.rescans)
				}
			}

			// A new process under an old pid (another starttime): its texts are read again,
			// the others still come from the caches.
			reused := 200 + n/2
			old := procs[reused]
			procs[reused] = treeProc{start: 999999, comm: "reborn"}
			procs[reused].write(t, root, reused)
			defer func() { procs[reused] = old; old.write(t, root, reused) }()
			ps, _ = fs.AllProcs()
			for _, p := range ps {
				p.Stat()
			}
			if got := be.lastScan(); got.cached != 5*(n-1) || got.rescans != 0 {
				t.Errorf("reused pid: %+v, want %d cached", got, 5*(n-1))
			}
			checkIdentity(t, pfs, ps, nil)
			if s, _ := ps[n/2].Comm(); s != "reborn" {
				t.Errorf("reused pid: comm %q", s)
			}

			// The Go cache dropped (as after a failed scan): the texts the library leaves out
			// are not ours, so the batch is read again with them.
			be.h.list.mu.Lock()
			be.dropCache()
			be.h.list.mu.Unlock()
			before := fs.ScanCount()
			ps, _ = fs.AllProcs()
			for _, p := range ps {
				p.Stat()
			}
			got := be.lastScan()
			if got.rescans != 1 || got.arenaLen <= statComm() {
				t.Errorf("after dropping the Go cache: %+v, want 1 rescan with the texts", got)
			}
			checkIdentity(t, pfs, ps, nil)
			ps, _ = fs.AllProcs()
			for _, p := range ps {
				p.Stat()
			}
			if got := be.lastScan(); got.rescans != 1 || got.arenaLen != statComm() {
				t.Errorf("after the rescan: %+v, want the cache refilled", got)
			}
			checkIdentity(t, pfs, ps, nil)
			if fs.ScanCount() != before+2 {
				t.Errorf("%d scans, want 2 (a rescan is not counted)", fs.ScanCount()-before)
			}
		})
	}
}

// TestSkipStatCrossListings: listings of one FS share the library's scanner, whose state
// is that of the last scan, whatever listing it was for. A follow-up batch of an older
// listing after a newer listing saw a pid reused answers, as before, with the process the
// library knows now; later batches find its texts in the Go cache.
func TestSkipStatCrossListings(t *testing.T) {
	const n = 12
	root, procs := makeTree(t, n)
	pfs, _ := procfs.NewFS(root)
	for _, engine := range []string{EngineURing, EngineSync} {
		t.Run(engine, func(t *testing.T) {
			fs := cacheFS(t, root, engine)
			be := backendOf(t, fs)
			a, _ := fs.AllProcs()
			for _, p := range a {
				p.Stat()
			}
			reused := 203
			old := procs[reused]
			procs[reused] = treeProc{start: 777777, comm: "other"}
			procs[reused].write(t, root, reused)
			defer func() { procs[reused] = old; old.write(t, root, reused) }()
			b, _ := fs.AllProcs()
			for _, p := range b {
				p.Stat()
			}
			for _, c := range identityCalls { // a's follow-ups, then b's, interleaved
				for _, p := range a {
					c.call(p)
				}
				if got := be.lastScan(); got.heldReads != 0 || got.opened != n || got.cached != 0 {
					t.Errorf("a.%s: %+v", c.name, got)
				}
				for _, p := range b {
					c.call(p)
				}
				if got := be.lastScan(); got.heldReads != 0 || got.opened != 0 || got.cached != n || got.arenaLen != 0 {
					t.Errorf("b.%s: %+v, want every text from the caches", c.name, got)
				}
			}
			checkIdentity(t, pfs, a, nil)
			checkIdentity(t, pfs, b, nil)
			if got := be.lastScan(); got.rescans != 0 {
				t.Errorf("%d rescans", got.rescans)
			}
			// FS.Scan uses the same scanner and cache.
			recs, err := fs.Scan(FileComm, FileCmdline, FileExe, FileCgroup, FileEnviron)
			if err != nil || len(recs) != n {
				t.Fatalf("Scan: %d records, %v", len(recs), err)
			}
			if got := be.lastScan(); got.cached != 5*n || got.rescans != 0 {
				t.Errorf("Scan: %+v", got)
			}
			for _, r := range recs {
				want := procs[r.PID]
				if r.Comm != want.comm || r.Executable != "/usr/bin/"+want.comm || len(r.CmdLine) != 3 ||
					r.CmdLine[0] != "/bin/"+want.comm || len(r.Environ) != 2 || len(r.Cgroups) != 1 {
					t.Errorf("Scan record %d: %+v", r.PID, r)
				}
			}
		})
	}
}

// TestFollowUpBatchLive: on /proc, Comm (and the other identity files) after Stat read no
// stat (no held read, at most one open per process: stat read again would be one or the
// other), and identity values stay procfs's over several listings while the texts come
// from the caches.
func TestFollowUpBatchLive(t *testing.T) {
	kids := startKids(t)
	pfs, _ := procfs.NewFS("/proc")
	only := map[int]bool{}
	for pid := range kids.pids {
		only[pid] = true
	}
	for _, engine := range []string{EngineURing, EngineSync} {
		t.Run(engine, func(t *testing.T) {
			fs := cacheFS(t, "/proc", engine)
			be := backendOf(t, fs)
			ps, _ := fs.AllProcs()
			for _, p := range ps {
				p.Stat()
			}
			for _, c := range identityCalls {
				for _, p := range ps {
					c.call(p)
				}
				got := be.lastScan()
				if got.heldReads != 0 || got.opened > got.returned {
					t.Errorf("%s after Stat: %+v, want no held (stat) read, one file per process", c.name, got)
				}
			}
			for _, p := range ps {
				p.NewStatus()
			}
			if got := be.lastScan(); got.heldReads != 0 || got.opened > got.returned {
				t.Errorf("NewStatus after Stat: %+v", got)
			}
			checkIdentity(t, pfs, ps, only)
			for round := range 3 {
				ps, _ := fs.AllProcs()
				for _, p := range ps {
					p.Stat()
				}
				got := be.lastScan()
				// Every identity file asked of every process, so that the next listing's
				// first batch reads them too (it follows this one's demand).
				for _, c := range identityCalls {
					for _, p := range ps {
						c.call(p)
					}
				}
				if got.cached < 5*uint32(len(kids.pids)) {
					t.Errorf("round %d: %+v, want the kids' texts cached", round, got)
				}
				checkIdentity(t, pfs, ps, only)
				for _, pid := range []int{os.Getpid(), 1} {
					if i := indexOf(ps, pid); i >= 0 {
						checkIdentity(t, pfs, ps[i:i+1], nil)
					}
				}
			}
			t.Logf("%s: %d rescans", engine, be.lastScan().rescans)
		})
	}
}

// TestVanishedAfterStat: a process that exits between the stat batch and a follow-up
// batch (which does not read stat) gives the errors procfs gives.
func TestVanishedAfterStat(t *testing.T) {
	for _, engine := range []string{EngineURing, EngineSync} {
		t.Run(engine, func(t *testing.T) {
			c := startChild(t, "sleep", "3600")
			pid := c.Process.Pid
			fs := cacheFS(t, "/proc", engine)
			// A first listing reads the identity of the child, so that the library has it
			// cached for the second.
			warm, _ := fs.AllProcs()
			for _, p := range warm {
				p.Stat()
			}
			if i := indexOf(warm, pid); i >= 0 {
				warm[i].Comm()
			}
			ps, _ := fs.AllProcs()
			i := indexOf(ps, pid)
			if i < 0 {
				t.Fatal("child not listed")
			}
			if _, err := ps[i].Stat(); err != nil {
				t.Fatal(err)
			}
			c.Process.Kill()
			c.Wait()
			tp := procfsProc(fs.Procfs(), pid)
			// Comm is sticky (read with stat by this listing's first batch); the others are
			// follow-ups without stat.
			calls := append([]struct {
				name string
				call func(p Proc) (any, error)
			}{
				{"NewStatus", func(p Proc) (any, error) { return p.NewStatus() }},
				{"IO", func(p Proc) (any, error) { return p.IO() }},
			}, identityCalls[1:]...)
			for _, cl := range calls {
				a, e1 := cl.call(ps[i])
				var e2 error
				var b any
				switch cl.name {
				case "NewStatus":
					b, e2 = tp.NewStatus()
				case "IO":
					b, e2 = tp.IO()
				default:
					b, e2 = procfsIdentity(tp, cl.name)
				}
				if errKind(e1) != errKind(e2) {
					t.Errorf("%s of a process gone after the stat batch: %v (%s), procfs %v (%s)", cl.name, e1, errKind(e1), e2, errKind(e2))
				}
				if e2 == nil && !reflect.DeepEqual(a, b) {
					t.Errorf("%s: %q, procfs %q", cl.name, a, b)
				}
				if pe, ok := e1.(*os.PathError); ok && !strings.HasSuffix(pe.Path, "/"+strconv.Itoa(pid)+"/"+fileOfCall(cl.name)) {
					t.Errorf("%s: path %s", cl.name, pe.Path)
				}
			}
		})
	}
}

func fileOfCall(name string) string {
	switch name {
	case "NewStatus":
		return "status"
	case "CmdLine":
		return "cmdline"
	case "Cgroups":
		return "cgroup"
	}
	return strings.ToLower(name)
}
