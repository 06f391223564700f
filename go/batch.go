package procuring

import (
	"fmt"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/prometheus/procfs"
)

// readDirect reads identity file f of pids (a window of a listing, or all of it) with
// plain syscalls, the ones procfs makes (open, read to the end or 1 MiB, close; readlink
// for exe), into a batch of the layout the library's batches have. Allocations: the
// slices of the batch and one string for all the texts.
func readDirect(root string, f File, pids []int32) *batch {
	n := len(pids)
	var b *batch
	var ids []identity
	var spans [][2]int
	var span1 [1][2]int
	if n == 1 {
		// One process (a window of one, or a Proc not from a listing): one allocation.
		o := new(directOne)
		b = &o.b
		b.pos, b.heads, b.ids, ids, spans = o.pos[:], o.heads[:], o.ids[:], o.id[:], span1[:]
	} else {
		b = &batch{pos: make([]int32, n), heads: make([]recHead, n), ids: make([]*identity, n)}
		ids = make([]identity, n)
		spans = make([][2]int, n)
	}
	d := directBufs.Get().(*directBuf)
	defer directBufs.Put(d)
	d.text = d.text[:0]
	for i, pid := range pids {
		b.pos[i] = int32(i)
		h := &b.heads[i]
		h.pid = pid
		d.path = strconv.AppendInt(append(append(d.path[:0], root...), '/'), int64(pid), 10)
		d.path = append(append(append(d.path, '/'), fileNames[f]...), 0)
		start := len(d.text)
		var errno syscall.Errno
		if f == FileExe {
			errno = d.readlink()
			if errno == syscall.ENOENT { // kernel thread, zombie, gone: "" (as procfs)
				d.text, errno = d.text[:start], 0
			}
		} else {
			errno = d.readFile()
		}
		if errno != 0 {
			d.text = d.text[:start]
			b.setErr(i, f, int32(errno))
			continue
		}
		h.read = 1 << f
		spans[i] = [2]int{start, len(d.text)}
		ids[i].have = 1 << f
		b.ids[i] = &ids[i]
	}
	all := string(d.text)
	for i := range ids {
		if ids[i].have != 0 {
			ids[i].s[f-FileComm] = all[spans[i][0]:spans[i][1]]
		}
	}
	if cap(d.text) > 1<<20 {
		d.text = make([]byte, 0, 4096) // a huge buffer is not kept for the next read
	}
	return b
}

// directOne is a batch of readDirect for one process, with its arrays.
type directOne struct {
	b     batch
	pos   [1]int32
	heads [1]recHead
	ids   [1]*identity
	id    [1]identity
}

// readDirect is readDirect of the FS's root, counted; ErrClosed after Close.
func (st *fsState) readDirect(f File, pids []int32) (*batch, error) {
	if st.closed.Load() {
		return nil, ErrClosed
	}
	st.direct.Add(1)
	return readDirect(st.root, f, pids), nil
}

// directBuf is the path and text buffer of readDirect.
type directBuf struct {
	path, text []byte
}

var directBufs = sync.Pool{New: func() any { return &directBuf{path: make([]byte, 0, 64), text: make([]byte, 0, 4096)} }}

// readFile appends the content of the file at d.path (NUL-terminated) to d.text, at most
// maxFileRead bytes (what procfs keeps). Opened non-blocking: a FIFO in a directory tree
// that is not procfs does not hang the caller.
func (d *directBuf) readFile() syscall.Errno {
	var fd uintptr
	for {
		// SAFETY: d.path is NUL-terminated and stays alive during the call.
		r, _, e := syscall.Syscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&d.path[0])),
			syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		fd = r
		break
	}
	defer syscall.Close(int(fd))
	start := len(d.text)
	for len(d.text)-start < maxFileRead {
		if len(d.text) == cap(d.text) {
			d.text = slices.Grow(d.text, max(cap(d.text), 4096))
		}
		room := d.text[len(d.text):cap(d.text)]
		if len(room) > maxFileRead-(len(d.text)-start) {
			room = room[:maxFileRead-(len(d.text)-start)]
		}
		k, err := syscall.Read(int(fd), room)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return errnoOf(err)
		}
		if k == 0 {
			break
		}
		d.text = d.text[:len(d.text)+k]
	}
	return 0
}

// readlink appends the target of the link at d.path (NUL-terminated) to d.text.
func (d *directBuf) readlink() syscall.Errno {
	size := 256
	for {
		d.text = slices.Grow(d.text, size)
		room := d.text[len(d.text) : len(d.text)+size]
		// SAFETY: d.path is NUL-terminated, room is writable for len(room) bytes; both stay
		// alive during the call.
		r, _, e := syscall.Syscall6(syscall.SYS_READLINKAT, atFDCWD, uintptr(unsafe.Pointer(&d.path[0])),
			uintptr(unsafe.Pointer(&room[0])), uintptr(len(room)), 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		if int(r) < len(room) {
			d.text = d.text[:len(d.text)+int(r)]
			return 0
		}
		size *= 2
	}
}

// atFDCWD is AT_FDCWD as a syscall argument.
const atFDCWD = ^uintptr(99) // -100

func errnoOf(err error) syscall.Errno {
	if e, ok := err.(syscall.Errno); ok && e != 0 {
		return e
	}
	return syscall.EIO
}

// listing is what the Procs of one AllProcs call share: their pids and, per file, the
// batches that read it.
//
// A file is read for the whole listing in one batch (src) when most of its processes are
// expected to ask for it (the FS's sticky files: asked of at least half of the previous
// listing, or Options.Prefetch), or once calls show they do. Otherwise each call of a
// process not read yet reads a window of pids from it on in listing order (win): one pid
// at first, twice as many each time the next call comes right after the last window (a
// loop over the listing), back to one when it does not. Once the windows would have read a
// quarter of the listing, the whole listing is read in one batch. A file asked of k
// processes thus costs about k reads (at most twice that when the asked processes are
// adjacent in the listing), and a loop over all of them about log2(n/4) small scans before
// one batch of all (which reads again the quarter the windows read).
type listing struct {
	fs     *fsState
	pids   []int32 // ascending; Proc.i indexes it
	single bool    // one Proc not from AllProcs: every call reads again
	// walk: made by the bpf engine's walk (FS.walkProcs): Comm answers from the stat batch.
	walk bool

	mu      sync.Mutex
	src     [numFiles]atomic.Pointer[batch]
	win     [numFiles]*windows // guarded by mu
	refresh bool               // the next batch re-reads identity files
	// calls counts the calls of each file's method on the Procs of the listing (the
	// demand the next listing's first batch follows).
	calls [numFiles]atomic.Int32
}

// windows is the state of a file read window by window (guarded by the listing's mu).
type windows struct {
	at   []slot // per listing index: the window batch that read it (b nil: not yet)
	size int    // pids of the next window
	end  int    // listing index after the last window's last pid
	read int    // pids read by windows so far
}

// slot is where a window batch has one process (ri < 0: the batch does not have it).
type slot struct {
	b  *batch
	ri int32
}

// demand returns the files that at least half of the processes of l were asked for.
func (l *listing) demand() uint32 {
	var m uint32
	half := int32(len(l.pids) / 2)
	for f := range numFiles {
		if c := l.calls[f].Load(); c > 0 && c >= half {
			m |= 1 << f
		}
	}
	return m
}

// get returns the batch holding file f for process i of the listing and the record index
// in it (negative: the batch does not have the process), reading it on first use.
func (l *listing) get(f File, i int) (*batch, int, error) {
	if b := l.src[f].Load(); b != nil {
		return b, b.index(i), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.src[f].Load(); b != nil {
		return b, b.index(i), nil
	}
	w := l.win[f]
	if w != nil && w.at[i].b != nil {
		return w.at[i].b, int(w.at[i].ri), nil
	}
	if l.fs.sticky.Load()&(1<<f) == 0 && len(l.pids) > 1 && !l.fs.wholeListing {
		if w == nil {
			w = &windows{at: make([]slot, len(l.pids)), size: 1}
			l.win[f] = w
		} else if w.nextUnread(w.end) == i {
			w.size *= 2
		} else {
			w.size = 1
		}
		if w.read+w.size < len(l.pids)/4 {
			return l.readWindow(f, w, i)
		}
	}
	b, err := l.readAll(f)
	if err != nil {
		return nil, 0, err
	}
	return b, b.index(i), nil
}

// nextUnread is the first listing index from i on that no window has read (len(at): none).
func (w *windows) nextUnread(i int) int {
	for i < len(w.at) && w.at[i].b != nil {
		i++
	}
	return i
}

// readWindow reads file f of up to w.size processes not read yet, from i on.
func (l *listing) readWindow(f File, w *windows, i int) (*batch, int, error) {
	var idx, pids []int32
	var one [1]int32
	if w.size == 1 {
		// The usual window (a few processes asked, not adjacent): nothing to allocate.
		one[0] = int32(i)
		idx, pids = one[:], l.pids[i:i+1:i+1]
	} else {
		idx = make([]int32, 0, w.size)
		pids = make([]int32, 0, w.size)
		for j := i; j < len(l.pids) && len(idx) < w.size; j = w.nextUnread(j + 1) {
			idx = append(idx, int32(j))
			pids = append(pids, l.pids[j])
		}
	}
	var b *batch
	if identityMask&(1<<f) != 0 {
		// An identity file alone: read here, as procfs does (the library would read stat
		// as well, to key its identity cache).
		var err error
		if b, err = l.fs.readDirect(f, pids); err != nil {
			return nil, 0, err
		}
	} else {
		mask := uint32(1) << f
		var err error
		b, err = l.fs.be.scanPids(mask, 0, pids)
		if err != nil {
			return nil, 0, err
		}
		l.fs.scans.Add(1)
	}
	for k, j := range idx {
		w.at[j] = slot{b: b, ri: b.pos[k]}
	}
	w.read += len(idx)
	w.end = int(idx[len(idx)-1]) + 1
	return b, int(b.pos[0]), nil
}

// readAll reads file f for every process of the listing in one batch, with the sticky
// files the listing has not read yet and the files being read window by window in step
// with f in a loop over the listing (Kepler asks five files of each new process in turn).
func (l *listing) readAll(f File) (*batch, error) {
	want := l.fs.sticky.Load()
	if l.walk {
		want &^= 1 << FileComm // answered from stat (see Proc.Comm)
	}
	want |= 1 << f
	if wf := l.win[f]; wf != nil {
		for g := range numFiles {
			if w := l.win[g]; w != nil && w.size > 1 && 2*w.size >= wf.size {
				want |= 1 << g // in step with f
			}
		}
	}
	if !l.fs.identityCache && want&^identityMask == 0 {
		// Identity files only, exact: read here, with the syscalls procfs makes. A library
		// batch re-keys its per-process table through stat, which costs more than the files
		// asked when the library holds no identity cache to serve from.
		var b *batch
		for g := range numFiles {
			if want&(1<<g) != 0 && l.src[g].Load() == nil {
				bg, err := l.fs.readDirect(g, l.pids)
				if err != nil {
					return nil, err
				}
				l.src[g].Store(bg)
				l.win[g] = nil
				if g == f {
					b = bg
				}
			}
		}
		l.refresh = false
		return b, nil
	}
	// Stat is read by the first batch of the listing; later batches (another file, or
	// sticky files not read yet) skip it: the library then reads only those files, and
	// stat only for pids it has not seen.
	statB := l.src[FileStat].Load()
	var mask, flags uint32
	if statB == nil {
		mask = 1 << FileStat
	} else {
		flags |= scanSkipStat
	}
	for g := range numFiles {
		if want&(1<<g) != 0 && l.src[g].Load() == nil {
			mask |= 1 << g
		}
	}
	if l.refresh {
		flags |= scanRefreshIdentity
	}
	scan := l.pids
	if statB != nil && statB.live != nil {
		// Pids the stat batch found gone answer through procfs (see Proc.batchFor) and
		// need not be read: the library would try their stat again.
		scan = statB.live
	}
	var b *batch
	if len(scan) == 0 {
		b = &batch{pos: make([]int32, len(l.pids))}
		for i := range b.pos {
			b.pos[i] = -1
		}
	} else {
		var err error
		b, err = l.fs.be.scanList(mask, flags, l.pids, scan, statB)
		if err != nil {
			return nil, err
		}
		l.fs.scans.Add(1)
	}
	l.refresh = false
	for g := range numFiles {
		if mask&(1<<g) != 0 && l.src[g].Load() == nil {
			l.src[g].Store(b)
			l.win[g] = nil
		}
	}
	return b, nil
}

// reset forgets every batch of the listing.
func (l *listing) reset() {
	if l.single || l.fs == nil || l.fs.be == nil {
		return
	}
	l.mu.Lock()
	for g := range numFiles {
		l.src[g].Store(nil)
		l.win[g] = nil
	}
	l.refresh = true
	l.mu.Unlock()
}

// batch is one library scan copied into Go values. Immutable once built.
type batch struct {
	// pos maps a listing index to the record index (-1: gone); nil for a scan of all
	// (whose records are the listing: the bpf engine's walk).
	pos   []int32
	heads []recHead
	// errs: per record, the status code of each file not read (nil while none failed: the
	// usual listing, whose records all have what was asked).
	errs [][numFiles]int32
	// stats: when stat was asked (always), the library's record as is (pointer-free: one
	// copy per process, nothing for the garbage collector to scan); Stat converts it.
	stats []rawStat
	// text holds the texts of stats (comm) and status, cut from it without copies.
	text   string
	status []statusRec     // when status was asked
	ios    []ProcIO        // when io was asked
	scheds []ProcSchedstat // when schedstat was asked
	ids    []*identity     // when an identity file was asked
	// live: with stat asked of a listing's pids and some of them gone, the pids of the
	// records (the processes later batches of the listing read).
	live []int32
}

// index returns the record index of listing index i (negative: b does not have it).
func (b *batch) index(i int) int {
	if b.pos == nil {
		return i
	}
	return int(b.pos[i])
}

// recHead is the per-process part of a record every batch has (the library's
// procuring_stat_head, which the bpf walk writes: lib_cgo.go checks the layout).
type recHead struct {
	pid   int32
	read  uint32 // files read and parsed
	state byte   // stat's state letter
}

// err returns the library's status code of file f of record ri (0 when read, or when the
// library did not report the file).
func (b *batch) err(ri int, f File) int32 {
	if b.errs == nil {
		return 0
	}
	return b.errs[ri][f]
}

// setErr sets the status code of file f of record ri (made while b is built).
func (b *batch) setErr(ri int, f File, code int32) {
	if b.errs == nil {
		b.errs = make([][numFiles]int32, len(b.heads))
	}
	b.errs[ri][f] = code
}

// strRef is a text of a batch: b.text[off:off+len] (procuring_str).
type strRef struct {
	off, len uint32
}

// rawStat is the library's procuring_stat, field for field (lib_cgo.go checks the layout):
// copied from a record in one move.
type rawStat struct {
	comm                                                  strRef
	ppid, pgrp, session, tty, tpgid                       int64
	flags, minflt, cminflt, majflt, cmajflt, utime, stime uint64
	cutime, cstime, priority, nice, numThreads            int64
	starttime, vsize                                      uint64
	rss                                                   int64
	rsslim, startcode, endcode, startstack, processor     uint64
	rtPriority, policy, delayacctBlkioTicks               uint64
	guestTime, cguestTime                                 int64
}

// stateNames maps a state byte to a one-letter string without allocating.
var stateNames = func() (t [256]string) {
	for i := range t {
		t[i] = string(rune(i))
		if i >= 0x80 {
			t[i] = string([]byte{byte(i)})
		}
	}
	return
}()

// stat returns the stat of record ri (read by b).
func (b *batch) stat(ri int) ProcStat {
	c := &b.stats[ri]
	h := &b.heads[ri]
	// b stays reachable while c is read: its stat array goes back to spareStats (lib_cgo.go)
	// once b is unreachable.
	defer runtime.KeepAlive(b)
	return ProcStat{
		PID:                 int(h.pid),
		Comm:                b.text[c.comm.off : c.comm.off+c.comm.len],
		State:               stateNames[h.state],
		PPID:                int(c.ppid),
		PGRP:                int(c.pgrp),
		Session:             int(c.session),
		TTY:                 int(c.tty),
		TPGID:               int(c.tpgid),
		Flags:               uint(c.flags),
		MinFlt:              uint(c.minflt),
		CMinFlt:             uint(c.cminflt),
		MajFlt:              uint(c.majflt),
		CMajFlt:             uint(c.cmajflt),
		UTime:               uint(c.utime),
		STime:               uint(c.stime),
		CUTime:              int(c.cutime),
		CSTime:              int(c.cstime),
		Priority:            int(c.priority),
		Nice:                int(c.nice),
		NumThreads:          int(c.numThreads),
		Starttime:           c.starttime,
		VSize:               uint(c.vsize),
		RSS:                 int(c.rss),
		RSSLimit:            c.rsslim,
		StartCode:           c.startcode,
		EndCode:             c.endcode,
		StartStack:          c.startstack,
		Processor:           uint(c.processor),
		RTPriority:          uint(c.rtPriority),
		Policy:              uint(c.policy),
		DelayAcctBlkIOTicks: c.delayacctBlkioTicks,
		GuestTime:           int(c.guestTime),
		CGuestTime:          int(c.cguestTime),
	}
}

// comm returns stat's comm of record ri.
func (b *batch) comm(ri int) string {
	c := &b.stats[ri].comm
	return b.text[c.off : c.off+c.len]
}

// statusRec is status without its list fields, parsed from their text on demand.
type statusRec struct {
	s      procfs.ProcStatus
	nspids string
	cpus   string
}

// identity holds the identity texts of one process lifetime (pid, starttime). Shared by
// the batches that read them: a text, once set, is never modified (a changed or failed
// file gets a new identity); a file not set yet may be added by a later scan (see build).
type identity struct {
	have uint32 // files of s that are set (bit 1<<File)
	s    [5]string
}

// text returns identity file f if the identity has it.
func (id *identity) text(f File) (string, bool) {
	if id == nil || id.have&(1<<f) == 0 {
		return "", false
	}
	return id.s[f-FileComm], true
}

func (r *statusRec) value(pid int) (ProcStatus, error) {
	s := r.s
	s.PID = pid
	if r.nspids != "" {
		v, err := parseNSpids(r.nspids)
		if err != nil {
			return ProcStatus{}, err
		}
		s.NSpids = v
	}
	if r.cpus != "" {
		s.CpusAllowedList = parseCPUList(r.cpus)
	}
	return s, nil
}

// record fills r from record i of b (files of mask).
func (b *batch) record(i int, mask uint32, root string, pfs procfs.FS, r *Record) {
	h := &b.heads[i]
	*r = Record{PID: int(h.pid), read: h.read & mask}
	for f := range numFiles {
		if mask&(1<<f) == 0 {
			continue
		}
		if h.read&(1<<f) == 0 {
			r.Errs[f] = codeErr(procPath(root, int(h.pid), f), f, b.err(i, f))
			if f == FileExe && os.IsNotExist(r.Errs[f]) {
				r.Errs[f] = nil
				r.read |= 1 << f
			}
			continue
		}
		var err error
		switch f {
		case FileStat:
			r.Stat = b.stat(i)
			r.Stat.fs = pfs
		case FileStatus:
			r.Status, err = b.status[i].value(int(h.pid))
		case FileIO:
			r.IO = b.ios[i]
		case FileSchedstat:
			r.Schedstat = b.scheds[i]
		case FileComm, FileCmdline, FileExe, FileCgroup, FileEnviron:
			s, ok := b.ids[i].text(f)
			switch {
			case !ok:
				err = codeErr(procPath(root, int(h.pid), f), f, 0)
			case f == FileComm:
				r.Comm = trimComm(s)
			case f == FileCmdline:
				r.CmdLine = splitCmdline(s)
			case f == FileExe:
				r.Executable = s
			case f == FileCgroup:
				r.Cgroups, err = parseCgroups(s)
			default:
				r.Environ = splitEnviron(s)
			}
		}
		if err != nil {
			r.Errs[f] = err
			r.read &^= 1 << f
		}
	}
}

// Record is what FS.Scan read of one process. A file that was not asked for, or could not
// be read (Err says why), leaves its field zero.
type Record struct {
	PID        int
	Stat       ProcStat
	Status     ProcStatus
	IO         ProcIO
	Schedstat  ProcSchedstat
	Comm       string
	CmdLine    []string
	Executable string
	Cgroups    []Cgroup
	Environ    []string
	// Errs holds, per File, why that file could not be read (nil if read or not asked),
	// with the error kinds of the Proc methods.
	Errs [NumFiles]error

	read uint32
}

// Has reports whether file f was read.
func (r *Record) Has(f File) bool { return f < numFiles && r.read&(1<<f) != 0 }

// Err returns why file f could not be read (nil if it was, or was not asked for).
func (r *Record) Err(f File) error {
	if f >= numFiles {
		return nil
	}
	return r.Errs[f]
}

// Files returns the files of the record that were read.
func (r *Record) Files() []File {
	out := make([]File, 0, bits.OnesCount32(r.read))
	for f := range numFiles {
		if r.read&(1<<f) != 0 {
			out = append(out, f)
		}
	}
	return out
}

// ---- text helpers, with the semantics of procfs's parsers ----

// maxFileRead is how much of a file procfs reads (it stops at 1 MiB).
const maxFileRead = 1 << 20

func clip(s string) string {
	if len(s) > maxFileRead {
		return s[:maxFileRead]
	}
	return s
}

func trimComm(s string) string { return strings.TrimSpace(clip(s)) }

// splitCmdline: trailing NULs dropped, then split on NUL; empty file: empty list.
func splitCmdline(s string) []string {
	s = clip(s)
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.TrimRight(s, "\x00"), "\x00")
}

// splitEnviron: split on NUL, one trailing empty item dropped.
func splitEnviron(s string) []string {
	v := strings.Split(clip(s), "\x00")
	if v[len(v)-1] == "" {
		v = v[:len(v)-1]
	}
	return v
}

// parseCgroups: one Cgroup per line ("id:controllers:path", the path may hold colons).
// Two allocations whatever the number of lines: the Cgroups, and one array that the
// Controllers of every line are cut from (capped: appending to one does not touch the next).
func parseCgroups(s string) ([]Cgroup, error) {
	s = clip(s)
	if s == "" {
		return nil, nil
	}
	lines := strings.Count(s, "\n") + 1
	out := make([]Cgroup, 0, lines)
	var names []string
	for len(s) > 0 {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		line = strings.TrimSuffix(line, "\r")
		i := strings.IndexByte(line, ':')
		j := -1
		if i >= 0 {
			j = strings.IndexByte(line[i+1:], ':')
		}
		if j < 0 {
			n := 1
			if i >= 0 {
				n = 2
			}
			return nil, fmt.Errorf("%w: 3+ fields required, found %d fields in cgroup string: %s", ErrFileParse, n, line)
		}
		j += i + 1
		id, err := strconv.Atoi(line[:i])
		if err != nil {
			return nil, fmt.Errorf("%w: hierarchy ID: %q", ErrFileParse, line[:i])
		}
		c := Cgroup{HierarchyID: id, Path: line[j+1:]}
		if ctl := line[i+1 : j]; ctl != "" {
			if names == nil {
				names = make([]string, 0, strings.Count(s, ",")+strings.Count(ctl, ",")+lines)
			}
			k := len(names)
			for {
				c := strings.IndexByte(ctl, ',')
				if c < 0 {
					names = append(names, ctl)
					break
				}
				names = append(names, ctl[:c])
				ctl = ctl[c+1:]
			}
			c.Controllers = names[k:len(names):len(names)]
		}
		out = append(out, c)
	}
	return out, nil
}

// statusValue is a status value as procfs sees it: trimmed, " kB" suffix removed.
func statusValue(v string) string {
	return strings.TrimSuffix(strings.TrimSpace(v), " kB")
}

func parseNSpids(s string) ([]uint64, error) {
	var out []uint64
	for f := range strings.SplitSeq(s, "\t") {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// parseCPUList expands "0-3,8" (unparsable numbers count as 0, as in procfs).
func parseCPUList(s string) []uint64 {
	var out []uint64
	for item := range strings.SplitSeq(s, ",") {
		r := strings.Split(strings.TrimSpace(item), "-")
		if len(r) > 1 {
			lo, _ := strconv.ParseUint(r[0], 10, 64)
			hi, _ := strconv.ParseUint(r[1], 10, 64)
			for c := lo; c <= hi; c++ {
				out = append(out, c)
				if c == ^uint64(0) {
					break
				}
			}
		} else {
			c, _ := strconv.ParseUint(r[0], 10, 64)
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}
