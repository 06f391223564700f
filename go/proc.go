package procuring

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"unsafe"

	"github.com/prometheus/procfs"
)

// File names one file of /proc/<pid>; the values are libprocuring's file indices.
type File uint

// The files the package reads.
const (
	FileStat      File = iota // stat
	FileStatus                // status
	FileIO                    // io
	FileComm                  // comm
	FileCmdline               // cmdline
	FileExe                   // exe (a link)
	FileCgroup                // cgroup
	FileEnviron               // environ
	FileSchedstat             // schedstat
	numFiles
)

// NumFiles is the number of File values.
const NumFiles = int(numFiles)

// identityMask: the identity files (comm, cmdline, exe, cgroup, environ), which the
// library caches per process lifetime when asked to (Options.IdentityCache).
const identityMask = 1<<FileComm | 1<<FileCmdline | 1<<FileExe | 1<<FileCgroup | 1<<FileEnviron

var fileNames = [numFiles]string{"stat", "status", "io", "comm", "cmdline", "exe", "cgroup", "environ", "schedstat"}

func (f File) String() string {
	if f < numFiles {
		return fileNames[f]
	}
	return "file(" + strconv.Itoa(int(f)) + ")"
}

// Proc is one process. Its methods answer from the batch of its listing (see the package
// documentation), or read the file when it is not part of a listing.
type Proc struct {
	// The process ID.
	PID int

	l *listing
	i int32
}

// Procs is a list of processes, sortable by pid like procfs.Procs.
type Procs []Proc

func (p Procs) Len() int           { return len(p) }
func (p Procs) Swap(i, j int)      { p[i], p[j] = p[j], p[i] }
func (p Procs) Less(i, j int) bool { return p[i].PID < p[j].PID }

// Refresh drops what the listings of ps have read, so that the next call of each method
// reads again (every process of the listing, identity files such as comm included).
func (p Procs) Refresh() {
	var last *listing
	for i := range p {
		if l := p[i].l; l != nil && l != last {
			l.reset()
			last = l
		}
	}
}

// Refresh detaches p from its listing: from now on each call of p reads the file again, as
// a Proc made by NewProc does. Other Procs of the listing are not affected.
func (p *Proc) Refresh() {
	if p.l != nil && p.l.fs != nil && p.l.fs.be != nil && !p.l.single {
		p.l = &listing{fs: p.l.fs, single: true}
		p.i = 0
	}
}

// ProcStat is /proc/<pid>/stat: the fields of procfs.ProcStat.
type ProcStat struct {
	// The process ID.
	PID int
	// The filename of the executable.
	Comm string
	// The process state.
	State string
	// The PID of the parent of this process.
	PPID int
	// The process group ID of the process.
	PGRP int
	// The session ID of the process.
	Session int
	// The controlling terminal of the process.
	TTY int
	// The ID of the foreground process group of the controlling terminal of the process.
	TPGID int
	// The kernel flags word of the process.
	Flags uint
	// Minor faults of the process.
	MinFlt uint
	// Minor faults of the process's waited-for children.
	CMinFlt uint
	// Major faults of the process.
	MajFlt uint
	// Major faults of the process's waited-for children.
	CMajFlt uint
	// User-mode CPU time in clock ticks.
	UTime uint
	// Kernel-mode CPU time in clock ticks.
	STime uint
	// User-mode CPU time of waited-for children in clock ticks.
	CUTime int
	// Kernel-mode CPU time of waited-for children in clock ticks.
	CSTime int
	// Priority (negated real-time priority minus one, or nice plus 20).
	Priority int
	// The nice value.
	Nice int
	// Number of threads.
	NumThreads int
	// Start time after boot in clock ticks.
	Starttime uint64
	// Virtual memory size in bytes.
	VSize uint
	// Resident set size in pages.
	RSS int
	// Soft limit in bytes on the rss.
	RSSLimit uint64
	// The address above which program text can run.
	StartCode uint64
	// The address below which program text can run.
	EndCode uint64
	// The address of the start (bottom) of the stack.
	StartStack uint64
	// CPU number last executed on.
	Processor uint
	// Real-time scheduling priority.
	RTPriority uint
	// Scheduling policy.
	Policy uint
	// Aggregated block I/O delays in clock ticks.
	DelayAcctBlkIOTicks uint64
	// Guest time in clock ticks.
	GuestTime int
	// Guest time of the children in clock ticks.
	CGuestTime int

	fs procfs.FS
}

// userHZ is USER_HZ, 100 on every platform Go supports (procfs hardcodes it too).
const userHZ = 100

// VirtualMemory returns the virtual memory size in bytes.
func (s ProcStat) VirtualMemory() uint { return s.VSize }

// ResidentMemory returns the resident memory size in bytes.
func (s ProcStat) ResidentMemory() int { return s.RSS * os.Getpagesize() }

// CPUTime returns the total user and system CPU time in seconds.
func (s ProcStat) CPUTime() float64 { return float64(s.UTime+s.STime) / userHZ }

// StartTime returns the unix time the process started, in seconds (boot time from the
// stat file of the FS, as procfs).
func (s ProcStat) StartTime() (float64, error) {
	st, err := s.fs.Stat()
	if err != nil {
		return 0, err
	}
	return float64(st.BootTime) + float64(s.Starttime)/userHZ, nil
}

func statFromProcfs(s procfs.ProcStat, pfs procfs.FS) ProcStat {
	return ProcStat{
		PID: s.PID, Comm: s.Comm, State: s.State, PPID: s.PPID, PGRP: s.PGRP,
		Session: s.Session, TTY: s.TTY, TPGID: s.TPGID, Flags: s.Flags, MinFlt: s.MinFlt,
		CMinFlt: s.CMinFlt, MajFlt: s.MajFlt, CMajFlt: s.CMajFlt, UTime: s.UTime,
		STime: s.STime, CUTime: s.CUTime, CSTime: s.CSTime, Priority: s.Priority,
		Nice: s.Nice, NumThreads: s.NumThreads, Starttime: s.Starttime, VSize: s.VSize,
		RSS: s.RSS, RSSLimit: s.RSSLimit, StartCode: s.StartCode, EndCode: s.EndCode,
		StartStack: s.StartStack, Processor: s.Processor, RTPriority: s.RTPriority,
		Policy: s.Policy, DelayAcctBlkIOTicks: s.DelayAcctBlkIOTicks,
		GuestTime: s.GuestTime, CGuestTime: s.CGuestTime, fs: pfs,
	}
}

// Procfs returns the plain procfs.Proc of p (same pid, same mount point), for the
// methods this package does not offer.
func (p Proc) Procfs() procfs.Proc {
	return procfsProc(p.pfs(), p.PID)
}

func (p Proc) pfs() procfs.FS {
	if p.l != nil && p.l.fs != nil {
		return p.l.fs.pfs
	}
	return procfs.FS{}
}

// procfs.Proc has no constructor that does not stat /proc/<pid> (and fail for a process
// that is gone, where procfs's own Procs keep answering with errors). procfsProc builds
// one directly when its layout is the one checked below (PID, then the procfs.FS), else
// falls back to FS.Proc.
type procfsProcLayout struct {
	PID int
	fs  procfs.FS
}

var procfsLayoutOK = func() bool {
	t := reflect.TypeFor[procfs.Proc]()
	var l procfsProcLayout
	return t.Size() == unsafe.Sizeof(l) && t.NumField() == 2 &&
		t.Field(0).Name == "PID" && t.Field(0).Type == reflect.TypeFor[int]() &&
		t.Field(1).Type == reflect.TypeFor[procfs.FS]() &&
		t.Field(1).Offset == unsafe.Offsetof(l.fs)
}()

func procfsProc(pfs procfs.FS, pid int) procfs.Proc {
	if procfsLayoutOK {
		l := procfsProcLayout{PID: pid, fs: pfs}
		return *(*procfs.Proc)(unsafe.Pointer(&l))
	}
	if pp, err := pfs.Proc(pid); err == nil {
		return pp
	}
	return procfs.Proc{PID: pid}
}

// Stat returns /proc/<pid>/stat.
func (p Proc) Stat() (ProcStat, error) {
	b, ri, err := p.batchFor(FileStat)
	if b == nil && err == nil {
		s, err := p.Procfs().Stat()
		if err != nil {
			return ProcStat{}, err
		}
		return statFromProcfs(s, p.pfs()), nil
	}
	if err == nil {
		err = p.fileErr(b, ri, FileStat)
	}
	if err != nil {
		return ProcStat{}, err
	}
	s := b.stat(ri)
	s.PID = p.PID
	s.fs = p.pfs()
	return s, nil
}

// NewStat returns /proc/<pid>/stat.
//
// Deprecated: use p.Stat, as in procfs.
func (p Proc) NewStat() (ProcStat, error) { return p.Stat() }

// NewStatus returns /proc/<pid>/status.
func (p Proc) NewStatus() (ProcStatus, error) {
	b, ri, err := p.batchFor(FileStatus)
	if b == nil && err == nil {
		return p.Procfs().NewStatus()
	}
	if err == nil {
		err = p.fileErr(b, ri, FileStatus)
	}
	if err != nil {
		return ProcStatus{}, err
	}
	return b.status[ri].value(p.PID)
}

// IO returns /proc/<pid>/io.
func (p Proc) IO() (ProcIO, error) {
	return batchValue(p, FileIO, func(b *batch) []ProcIO { return b.ios }, procfs.Proc.IO)
}

// Schedstat returns /proc/<pid>/schedstat (run and wait time of the main thread, in ns).
func (p Proc) Schedstat() (ProcSchedstat, error) {
	return batchValue(p, FileSchedstat, func(b *batch) []ProcSchedstat { return b.scheds }, procfs.Proc.Schedstat)
}

// batchValue is p's value of file f, a file whose batch keeps one parsed value per record
// (vals), or procfs's (viaProcfs) when no batch has p.
func batchValue[T any](p Proc, f File, vals func(*batch) []T, viaProcfs func(procfs.Proc) (T, error)) (T, error) {
	b, ri, err := p.batchFor(f)
	if b == nil && err == nil {
		return viaProcfs(p.Procfs())
	}
	if err == nil {
		err = p.fileErr(b, ri, f)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return vals(b)[ri], nil
}

// Comm returns the command name (/proc/<pid>/comm, trimmed).
func (p Proc) Comm() (string, error) {
	if p.l != nil && p.l.walk {
		if s, ok, err := p.walkComm(); ok {
			return s, err
		}
	}
	s, err := p.ident(FileComm)
	if err == errUseProcfs {
		return p.Procfs().Comm()
	}
	if err != nil {
		return "", err
	}
	return trimComm(s), nil
}

// walkComm is Comm of a Proc of a bpf listing: the comm of the stat batch that has p (the
// kernel prints /proc/<pid>/comm and stat's comm with the same function, and the walk's
// stat comm is that text), trimmed as procfs trims the comm file. ok is false when the
// batch has no stat of p (a process gone since the listing, after a Refresh): Comm then
// reads the file.
func (p Proc) walkComm() (s string, ok bool, err error) {
	b, ri, err := p.l.get(FileStat, int(p.i))
	if err != nil {
		return "", true, err
	}
	if ri < 0 || b.heads[ri].read&(1<<FileStat) == 0 {
		return "", false, nil
	}
	return trimComm(b.comm(ri)), true, nil
}

// CmdLine returns the arguments of the process (/proc/<pid>/cmdline).
func (p Proc) CmdLine() ([]string, error) {
	s, err := p.ident(FileCmdline)
	if err == errUseProcfs {
		return p.Procfs().CmdLine()
	}
	if err != nil {
		return nil, err
	}
	return splitCmdline(s), nil
}

// Executable returns the target of /proc/<pid>/exe ("" for kernel threads, zombies and
// processes that are gone, as procfs).
func (p Proc) Executable() (string, error) {
	s, err := p.ident(FileExe)
	if err == errUseProcfs {
		return p.Procfs().Executable()
	}
	if os.IsNotExist(err) {
		return "", nil
	}
	return s, err
}

// Cgroups returns the cgroups of the process (/proc/<pid>/cgroup).
func (p Proc) Cgroups() ([]Cgroup, error) {
	s, err := p.ident(FileCgroup)
	if err == errUseProcfs {
		return p.Procfs().Cgroups()
	}
	if err != nil {
		return nil, err
	}
	cg, err := parseCgroups(s)
	if err != nil {
		// A malformed file: procfs's own error for it, of procfs's kind and text.
		return nil, p.parseErr(FileCgroup)
	}
	return cg, nil
}

// Environ returns the environment of the process (/proc/<pid>/environ).
func (p Proc) Environ() ([]string, error) {
	s, err := p.ident(FileEnviron)
	if err == errUseProcfs {
		return p.Procfs().Environ()
	}
	if err != nil {
		return []string{}, err
	}
	return splitEnviron(s), nil
}

// errUseProcfs is an internal signal of ident: this Proc reads through procfs.
var errUseProcfs = &fs.PathError{Op: "procuring", Err: syscall.ENOTSUP}

func (p Proc) ident(f File) (string, error) {
	b, ri, err := p.batchFor(f)
	if b == nil && err == nil {
		return "", errUseProcfs
	}
	if err == nil {
		err = p.fileErr(b, ri, f)
	}
	if err != nil {
		return "", err
	}
	s, ok := b.ids[ri].text(f)
	if !ok {
		return "", codeErr(p.path(f), f, 0)
	}
	return s, nil
}

// batchFor returns the batch that has file f of p and p's record index in it.
// (nil, 0, nil) means "read through procfs": the procfs engine, or a process the batch
// does not have. The library leaves out a process whose stat it could not read (it
// exited), so procfs's direct read gives the same NotExist error on a live system; in a
// directory tree where a pid has some files but no stat (procfs's fixtures), it reads
// those files as procfs does.
func (p Proc) batchFor(f File) (*batch, int, error) {
	l := p.l
	if l == nil || l.fs == nil || l.fs.be == nil {
		return nil, 0, nil
	}
	var b *batch
	ri := 0
	if l.single {
		pids := [1]int32{int32(p.PID)}
		if identityMask&(1<<f) != 0 {
			// Read as procfs does (a library scan would read stat too).
			var err error
			if b, err = l.fs.readDirect(f, pids[:]); err != nil {
				return nil, 0, err
			}
		} else {
			var err error
			b, err = l.fs.be.scanPids(1<<f, 0, pids[:])
			if err != nil {
				return nil, 0, err
			}
			l.fs.scans.Add(1)
		}
		if len(b.heads) == 0 {
			ri = -1
		}
	} else {
		if f != FileStat || !l.walk { // a walk always reads stat: no demand to count
			l.calls[f].Add(1)
		}
		var err error
		b, ri, err = l.get(f, int(p.i))
		if err != nil {
			return nil, 0, err
		}
	}
	if ri < 0 {
		return nil, 0, nil
	}
	return b, ri, nil
}

// fileErr is the error of file f for record ri of b (nil if it was read).
func (p Proc) fileErr(b *batch, ri int, f File) error {
	h := &b.heads[ri]
	if h.read&(1<<f) != 0 {
		return nil
	}
	code := b.err(ri, f)
	if code == codeParse {
		return p.parseErr(f) // errors.go: procfs's own error for the malformed file
	}
	return codeErr(p.path(f), f, code)
}

func (p Proc) path(f File) string {
	return procPath(p.l.fs.root, p.PID, f)
}

func procPath(root string, pid int, f File) string {
	return filepath.Join(root, strconv.Itoa(pid), fileNames[f])
}

func fileOp(f File) string {
	if f == FileExe {
		return "readlink"
	}
	return "open"
}

// codeErr turns a per-file status code of the library into the error procfs returns for
// the same condition: an *fs.PathError carrying the errno (so os.IsNotExist and
// os.IsPermission work), or an error wrapping ErrFileParse (procfs's parse errors are
// not all ErrFileParse, but none is a *fs.PathError or an errno).
func codeErr(path string, f File, code int32) error {
	switch {
	case code == codeParse:
		return fmt.Errorf("%w: %s: unexpected content", ErrFileParse, path)
	case code > 0:
		errno := syscall.Errno(code)
		if errno == syscall.ESRCH && (f <= FileIO || f == FileSchedstat || f == FileExe) {
			// A held stat/status/io/schedstat descriptor of a process that exited: opening the file
			// again, as procfs does, fails with ENOENT (and readlink of exe never says
			// ESRCH: the library reports an exe it could not read because the process was
			// exiting that way).
			errno = syscall.ENOENT
		}
		return &fs.PathError{Op: fileOp(f), Path: path, Err: errno}
	default:
		// Neither read nor failed: the library did not report this file.
		return &fs.PathError{Op: fileOp(f), Path: path, Err: syscall.EIO}
	}
}

// codeParse is PROCURING_FILE_ERR_PARSE.
const codeParse = -1

// Scan flags of the library (PROCURING_SCAN_*).
const (
	// scanRefreshIdentity: re-read identity files even when cached.
	scanRefreshIdentity = 1
	// scanSkipStat: do not re-read stat of pids an earlier scan of the scanner read.
	scanSkipStat = 2
)
