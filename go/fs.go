package procuring

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/procfs"
)

// DefaultMountPoint is the usual mount point of the proc filesystem.
const DefaultMountPoint = procfs.DefaultMountPoint

// Types of procfs reused as they are (plain values, no hidden state).
type (
	// ProcStatus is procfs's ProcStatus (/proc/<pid>/status).
	ProcStatus = procfs.ProcStatus
	// ProcIO is procfs's ProcIO (/proc/<pid>/io).
	ProcIO = procfs.ProcIO
	// ProcSchedstat is procfs's ProcSchedstat (/proc/<pid>/schedstat).
	ProcSchedstat = procfs.ProcSchedstat
	// Cgroup is procfs's Cgroup (one line of /proc/<pid>/cgroup).
	Cgroup = procfs.Cgroup
)

// Errors of procfs, the same values (errors.Is works across both packages).
var (
	ErrFileParse  = procfs.ErrFileParse
	ErrFileRead   = procfs.ErrFileRead
	ErrMountPoint = procfs.ErrMountPoint
)

// LibraryError is a failure of libprocuring itself (not of one process's file).
type LibraryError struct {
	// Op is the library call: "scanner_new", "scan_files", "list_pids" or "abi_version".
	Op string
	// Code is the PROCURING_ERR_* value.
	Code int
	// Msg is the library's message.
	Msg string
}

func (e *LibraryError) Error() string {
	return "procuring: " + e.Op + ": " + e.Msg
}

// ErrClosed is returned by calls on an FS after Close.
var ErrClosed = errors.New("procuring: FS is closed")

// EnvEngine is the environment variable that forces an engine: auto, uring, sync, bpf or procfs.
const EnvEngine = "PROCURING_ENGINE"

// Engine names reported by FS.Engine and accepted by Options.Engine.
const (
	EngineAuto   = "auto"
	EngineURing  = "uring"
	EngineSync   = "sync"
	EngineBPF    = "bpf"
	EngineProcfs = "procfs"
)

// Options of NewFSWithOptions.
type Options struct {
	// Engine: "" (the PROCURING_ENGINE environment variable, else auto), "auto", "uring",
	// "sync", "bpf" (stat from a BPF walk of every task: root or CAP_BPF + CAP_PERFMON) or
	// "procfs". Anything but auto and "" fails NewFS when that engine cannot run.
	Engine string
	// Prefetch: files that the first batch of every listing reads in addition to what is
	// asked (the sticky set learned from calls starts with these).
	Prefetch []File
	// ReuseIdleStat: a listing's Stat() of a single-threaded process whose schedstat shows
	// it has not run since the FS's previous listing returns the stat read then instead of
	// reading it again (libprocuring's reuse_idle_stat; about half the kernel work of a
	// scan of idle processes). CPU times, fault counts, NumThreads, VSize, Comm and
	// Starttime are exact; what other processes or the kernel change while a process
	// sleeps (State of a process woken but not yet run, PPID, TPGID, Flags, Priority,
	// Nice, Policy, RTPriority, RSS, RSSLimit, Processor) may be as old as its last run.
	// For collectors that want CPU time, such as Kepler. Ignored by the procfs engine, and
	// by the bpf engine's listings (its walk reads the stat of every process for less).
	ReuseIdleStat bool
	// IdentityCache: comm, cmdline, exe, cgroup and environ are read once per process
	// lifetime (pid, starttime) and served from the library's cache afterwards, instead of
	// being read in every batch that asks for them. Cheaper for collectors that read the
	// identity of every process on every listing, at a documented cost in freshness: a
	// value may be as old as the library's identity_max_age, except that an exec is always
	// detected (a new comm in stat, or the other traces an exec leaves in stat), so a
	// prctl(PR_SET_NAME) rename, a cgroup move or an argv rewrite (setproctitle) of a live
	// process may be seen late. Off by default: every value is what the kernel showed
	// during the batch that returned it, as procfs would have read it then.
	IdentityCache bool
}

// FS is a proc filesystem mount (or a directory laid out like one).
//
// An FS made by NewFS holds library scanners (and, with the uring or sync engines, open
// descriptors of the processes it read); Close releases them, and so does the garbage
// collector once the FS and every Proc made from it are unreachable.
type FS struct {
	pfs procfs.FS
	st  *fsState
}

// fsState is shared by the copies of an FS and by its listings.
type fsState struct {
	root   string
	pfs    procfs.FS
	engine string
	reason string
	be     backend // nil: the procfs engine
	// sticky: the files that the first batch of a listing reads for all of its processes
	// (Options.Prefetch, and the files at least half of the previous listing asked for).
	sticky   atomic.Uint32
	prefetch uint32
	// last is the listing made last (its demand sets sticky for the next one).
	last atomic.Pointer[listing]
	// identityCache: Options.IdentityCache.
	identityCache bool
	// wholeListing: every file is read for the whole listing in one batch, never in
	// windows (for tests of the batches' flags).
	wholeListing bool
	// scans counts library scans (for tests and ScanCount); direct, windows of an identity
	// file read without the library (for tests).
	scans, direct atomic.Int64
	// closed: Close was called (the reads made without the library fail too).
	closed atomic.Bool
	// pl is the listing every Proc of the procfs engine points to (it carries the FS).
	pl *listing
}

// backend is the library side of an FS (implemented with cgo; absent without it).
type backend interface {
	// listPids lists the pids of the proc root, ascending.
	listPids() ([]int32, error)
	// scanList reads files of scan (pids of the listing pids, or all of them) with the
	// listing scanner, which keeps descriptors and state of the processes of its last scan.
	// statB, when not nil, is the batch of the same listing that has stat: its starttimes
	// identify the processes of a scan made with scanSkipStat. The batch's pos indexes pids.
	scanList(files, flags uint32, pids, scan []int32, statB *batch) (*batch, error)
	// scanAll lists every process and reads files with the listing scanner.
	scanAll(files, flags uint32) (*batch, error)
	// scanPids reads files of a few pids (ascending) with the scanner of single processes
	// and windows, leaving the listing scanner's state alone. The batch's pos indexes pids.
	scanPids(files, flags uint32, pids []int32) (*batch, error)
	close()
}

// NewDefaultFS returns an FS for /proc.
func NewDefaultFS() (FS, error) {
	return NewFS(DefaultMountPoint)
}

// NewFS returns an FS for the proc filesystem at mountPoint, with the engine named by
// PROCURING_ENGINE (auto when unset).
func NewFS(mountPoint string) (FS, error) {
	return NewFSWithOptions(mountPoint, Options{})
}

// NewFSWithOptions returns an FS for mountPoint with the given options.
func NewFSWithOptions(mountPoint string, opts Options) (FS, error) {
	pfs, err := procfs.NewFS(mountPoint)
	if err != nil {
		return FS{}, err
	}
	engine := opts.Engine
	from := "Options.Engine"
	if engine == "" {
		engine, from = os.Getenv(EnvEngine), EnvEngine
	}
	engine = strings.ToLower(strings.TrimSpace(engine))
	st := &fsState{root: mountPoint, pfs: pfs, identityCache: opts.IdentityCache}
	st.pl = &listing{fs: st}
	for _, f := range opts.Prefetch {
		if f >= numFiles {
			return FS{}, fmt.Errorf("procuring: unknown file %d in Options.Prefetch", f)
		}
		st.prefetch |= 1 << f
	}
	if st.prefetch != 0 {
		// Files named up front are read with stat by one batch for the whole listing.
		st.prefetch |= 1 << FileStat
	}
	st.sticky.Store(st.prefetch)
	switch engine {
	case "", EngineAuto:
		be, name, reason, err := newBackend(mountPoint, EngineAuto, opts)
		if err != nil {
			st.engine, st.reason = EngineProcfs, err.Error()
		} else {
			st.be, st.engine, st.reason = be, name, reason
		}
	case EngineURing, EngineSync, EngineBPF:
		be, name, reason, err := newBackend(mountPoint, engine, opts)
		if err != nil {
			return FS{}, fmt.Errorf("procuring: engine %q (from %s) cannot run: %w", engine, from, err)
		}
		st.be, st.engine, st.reason = be, name, reason
	case EngineProcfs:
		st.engine, st.reason = EngineProcfs, engine+" requested by "+from
	default:
		return FS{}, fmt.Errorf("procuring: unknown engine %q in %s (want auto, uring, sync, bpf or procfs)", engine, from)
	}
	return FS{pfs: pfs, st: st}, nil
}

// Engine returns the engine this FS reads with ("uring", "sync", "bpf" or "procfs") and why.
func (fs FS) Engine() (name, reason string) {
	if fs.st == nil {
		return EngineProcfs, "zero FS"
	}
	return fs.st.engine, fs.st.reason
}

// Close releases the library scanners of fs and the descriptors they hold. Calls on fs or
// its Procs after Close fail with ErrClosed (the procfs engine keeps working).
func (fs FS) Close() error {
	if fs.st != nil && fs.st.be != nil {
		fs.st.closed.Store(true)
		fs.st.be.close()
	}
	return nil
}

// ScanCount returns how many library scans fs has made (0 with the procfs engine): one
// per batch of a listing, per call of a Proc not from a listing, and per Scan.
func (fs FS) ScanCount() int64 {
	if fs.st == nil {
		return 0
	}
	return fs.st.scans.Load()
}

// Procfs returns the procfs.FS of the same mount point.
func (fs FS) Procfs() procfs.FS {
	return fs.pfs
}

// defaultFS is the FS of the package-level functions, made on first use (with the engine
// PROCURING_ENGINE names at that time; its error, if any, is returned by every call).
var defaultFS = sync.OnceValues(NewDefaultFS)

// AllProcs returns every process of /proc (see FS.AllProcs). The package-level functions
// share one FS, so successive listings profit from each other.
func AllProcs() (Procs, error) {
	fs, err := defaultFS()
	if err != nil {
		return Procs{}, err
	}
	return fs.AllProcs()
}

// Self returns the process calling it.
func Self() (Proc, error) {
	fs, err := defaultFS()
	if err != nil {
		return Proc{}, err
	}
	return fs.Self()
}

// NewProc returns the process pid of /proc.
func NewProc(pid int) (Proc, error) {
	fs, err := defaultFS()
	if err != nil {
		return Proc{}, err
	}
	return fs.Proc(pid)
}

// AllProcs lists the processes of fs (one directory pass, no file read; with the bpf
// engine, one BPF walk that also reads stat and comm of every process), in ascending
// pid order. The Procs share one listing: a file is read for all of them in one batch
// when most of them ask for it, else for the few that do (see the package documentation).
func (fs FS) AllProcs() (Procs, error) {
	st := fs.st
	if st == nil || st.be == nil {
		pp, err := fs.pfs.AllProcs()
		if err != nil {
			return Procs{}, err
		}
		l := (*listing)(nil)
		if st != nil {
			l = st.pl
		}
		ps := make(Procs, len(pp))
		for i, p := range pp {
			ps[i] = Proc{PID: p.PID, l: l}
		}
		sort.Sort(ps)
		return ps, nil
	}
	if st.engine == EngineBPF {
		return fs.walkProcs()
	}
	pids, err := st.be.listPids()
	if err != nil {
		return Procs{}, err
	}
	l := &listing{fs: st, pids: pids}
	if prev := st.last.Swap(l); prev != nil {
		st.sticky.Store(st.prefetch | prev.demand())
	}
	ps := make(Procs, len(pids))
	for i, pid := range pids {
		ps[i] = Proc{PID: int(pid), l: l, i: int32(i)}
	}
	return ps, nil
}

// walkProcs is AllProcs of the bpf engine: one library scan of every process (the BPF
// walk lists them and reads their stat in one pass, no directory listing) is the listing
// and its first batch, which also answers Comm (stat's comm; see Proc.Comm). Sticky files
// other than stat and comm are read by the same scan (the library reads them for the
// walked pids through its sync path).
func (fs FS) walkProcs() (Procs, error) {
	st := fs.st
	if prev := st.last.Load(); prev != nil {
		st.sticky.Store(st.prefetch | prev.demand())
	}
	files := (st.sticky.Load() | 1<<FileStat) &^ (1 << FileComm)
	b, err := st.be.scanAll(files, 0)
	if err != nil {
		return Procs{}, err
	}
	st.scans.Add(1)
	n := len(b.heads)
	l := &listing{fs: st, pids: make([]int32, n), walk: true}
	ps := make(Procs, n)
	for i := range b.heads {
		pid := b.heads[i].pid
		l.pids[i] = pid
		ps[i] = Proc{PID: int(pid), l: l, i: int32(i)}
	}
	for g := range numFiles {
		if files&(1<<g) != 0 {
			l.src[g].Store(b)
		}
	}
	st.last.Store(l)
	return ps, nil
}

// Proc returns the process pid, or an error if /proc/<pid> does not exist. It is not part
// of a listing: each of its calls reads the file again.
func (fs FS) Proc(pid int) (Proc, error) {
	if _, err := fs.pfs.Proc(pid); err != nil {
		return Proc{}, err
	}
	return fs.single(pid), nil
}

// NewProc returns the process pid.
//
// Deprecated: use fs.Proc, as in procfs.
func (fs FS) NewProc(pid int) (Proc, error) {
	return fs.Proc(pid)
}

// Self returns the process calling it (through the self link of fs).
func (fs FS) Self() (Proc, error) {
	p, err := fs.pfs.Self()
	if err != nil {
		return Proc{}, err
	}
	return fs.single(p.PID), nil
}

func (fs FS) single(pid int) Proc {
	st := fs.st
	if st == nil || st.be == nil {
		var l *listing
		if st != nil {
			l = st.pl
		}
		return Proc{PID: pid, l: l}
	}
	return Proc{PID: pid, l: &listing{fs: st, single: true}}
}

// Scan reads files (stat always) of every process in one batch and returns one Record per
// process, ascending by pid. Processes that exit during the scan are left out.
func (fs FS) Scan(files ...File) ([]Record, error) {
	mask := uint32(1 << FileStat)
	for _, f := range files {
		if f >= numFiles {
			return nil, fmt.Errorf("procuring: unknown file %d", f)
		}
		mask |= 1 << f
	}
	st := fs.st
	if st == nil || st.be == nil {
		return fs.scanProcfs(mask)
	}
	b, err := st.be.scanAll(mask, 0)
	if err != nil {
		return nil, err
	}
	st.scans.Add(1)
	out := make([]Record, len(b.heads))
	for i := range out {
		b.record(i, mask, st.root, fs.pfs, &out[i])
	}
	return out, nil
}

func (fs FS) scanProcfs(mask uint32) ([]Record, error) {
	ps, err := fs.AllProcs()
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(ps))
	for _, p := range ps {
		var r Record
		r.PID = p.PID
		var err error
		if r.Stat, err = p.Stat(); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			r.Errs[FileStat] = err
		}
		for f := FileStatus; f < numFiles; f++ {
			if mask&(1<<f) == 0 {
				continue
			}
			switch f {
			case FileStatus:
				v, e := p.NewStatus()
				err = e
				if e == nil {
					r.Status = v
				}
			case FileIO:
				v, e := p.IO()
				err = e
				if e == nil {
					r.IO = v
				}
			case FileSchedstat:
				v, e := p.Schedstat()
				err = e
				if e == nil {
					r.Schedstat = v
				}
			case FileComm:
				r.Comm, err = p.Comm()
			case FileCmdline:
				r.CmdLine, err = p.CmdLine()
			case FileExe:
				r.Executable, err = p.Executable()
			case FileCgroup:
				r.Cgroups, err = p.Cgroups()
			case FileEnviron:
				v, e := p.Environ()
				err = e
				if e == nil {
					r.Environ = v
				}
			}
			r.Errs[f] = err
		}
		r.read = mask
		for f := range numFiles {
			if r.Errs[f] != nil {
				r.read &^= 1 << f
			}
		}
		out = append(out, r)
	}
	return out, nil
}
