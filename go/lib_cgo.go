//go:build cgo && ((linux && amd64) || procuring_system)

// Built where this package has the library: cgo and a prebuilt archive for the platform in
// lib/ (linux/amd64; add a platform here, in lib_nocgo.go, nolib_platform.go and
// link_archive.go when its archive is committed), or the installed library (tag
// procuring_system).

package procuring

/*
// The #cgo flags that find procuring.h and the library are in link_archive.go (the archive in
// lib/, the default) and link_system.go (pkg-config, tag procuring_system).
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include "procuring.h"

// The library's error message is thread-local and a goroutine may move to another OS
// thread between two cgo calls, so each helper copies the message (malloc'd, freed by
// Go) in the same C call that failed.
static char *pr_err(void) {
	const char *m = procuring_last_error();
	return strdup(m ? m : "");
}

static int32_t pr_new(const char *root, uint32_t engine, uint32_t reuse_idle_stat,
                      uint32_t identity_cache, procuring_scanner **out, const char **name,
                      const char **reason, char **err) {
	procuring_options o;
	int32_t rc = procuring_options_init(&o);
	if (rc == 0) {
		o.proc_root = root;
		o.engine = engine;
		o.files = 1u << PROCURING_FILE_STAT;
		o.hold_fds = 1;
		o.reuse_idle_stat = reuse_idle_stat;
		o.identity_cache = identity_cache;
		rc = procuring_scanner_new(&o, out);
	}
	if (rc != 0) {
		*err = pr_err();
		return rc;
	}
	*name = procuring_engine_name(*out);
	*reason = procuring_engine_reason(*out);
	return 0;
}

static int32_t pr_scan(procuring_scanner *s, uint32_t files, uint32_t flags, const int32_t *pids,
                       size_t n, procuring_snapshot *snap, char **err) {
	int32_t rc = procuring_scan_files(s, files, flags, pids, n);
	if (rc == 0)
		rc = procuring_snapshot_get(s, snap);
	if (rc != 0)
		*err = pr_err();
	return rc;
}

static int32_t pr_walk(procuring_scanner *s, procuring_stat_head *heads, procuring_stat *stats,
                       size_t cap, size_t *n, const uint8_t **arena, size_t *arena_len,
                       procuring_scan_stats *st, char **err) {
	int32_t rc = procuring_walk_stat(s, heads, stats, cap, n, arena, arena_len, st);
	if (rc != 0 && rc != PROCURING_ERR_BUFFER_TOO_SMALL)
		*err = pr_err();
	return rc;
}

static int32_t pr_list(procuring_scanner *s, int32_t *out, size_t cap, size_t *n, char **err) {
	int32_t rc = procuring_list_pids(s, out, cap, n);
	if (rc != 0 && rc != PROCURING_ERR_BUFFER_TOO_SMALL)
		*err = pr_err();
	return rc;
}
*/
import "C"

import (
	"runtime"
	"strconv"
	"sync"
	"unsafe"

	"github.com/prometheus/procfs"
)

// cgoEnabled reports whether this build has the library.
const cgoEnabled = true

func libErr(op string, rc C.int32_t, msg *C.char) error {
	e := &LibraryError{Op: op, Code: int(rc)}
	if msg != nil {
		e.Msg = C.GoString(msg)
		C.free(unsafe.Pointer(msg))
	}
	if e.Msg == "" {
		e.Msg = "error code " + strconv.Itoa(int(rc))
	}
	return e
}

type cScanner struct {
	mu   sync.Mutex
	c    *C.procuring_scanner
	snap C.procuring_snapshot // view of the last scan (guarded by mu)
	msg  *C.char              // error message of the last scan (a field: no allocation per scan)
}

func (s *cScanner) free() {
	s.mu.Lock()
	if s.c != nil {
		C.procuring_scanner_free(s.c)
		s.c = nil
	}
	s.mu.Unlock()
}

// handles are the C scanners of a backend; a cleanup frees them when the backend is
// unreachable.
type handles struct {
	list cScanner // listings and Scan
	sub  cScanner // single processes and windows of a listing (created on first use)
}

type cBackend struct {
	h      *handles
	root   string
	engine C.uint32_t // resolved engine, for the scanner of single processes
	reuse  C.uint32_t // Options.ReuseIdleStat, for the scanner of single processes
	// identCache: Options.IdentityCache (the library serves identity texts from its cache,
	// and the Go side keeps its own copies: scanOmitCached).
	identCache C.uint32_t
	walk       bool // the listing scanner runs the bpf engine
	closed     bool // guarded by h.list.mu

	// Guarded by h.list.mu: with identCache, per process of the last scan of the listing
	// scanner (ascending pid), the starttime the library knows and the Go copies of the
	// identity texts it served, so that texts the library serves from its cache are not
	// copied again (it leaves them out of the snapshot: scanOmitCached); the pid count of
	// the last listing;
	// the counters of the last scan and the number of batches read twice (for tests).
	cache, spare []identRef
	pidHint      int
	last         C.procuring_scan_stats
	rescans      int
}

// identRef is an entry of the Go-side identity cache (ascending pid): per process of the
// last scan of the listing scanner, the starttime the library knows for it (its identity
// cache key) and the identity texts the library has served for it (nil: none yet).
type identRef struct {
	pid   int32
	start uint64
	id    *identity
}

// scanOmitCached (PROCURING_SCAN_OMIT_CACHED): identity texts served from the cache are
// not copied to the arena (with Options.IdentityCache; the Go side keeps its copies).
const scanOmitCached = 4

func newScanner(root string, engine, reuseIdleStat, identityCache C.uint32_t) (*C.procuring_scanner, string, string, error) {
	croot := C.CString(root)
	defer C.free(unsafe.Pointer(croot))
	var s *C.procuring_scanner
	var name, reason, msg *C.char
	// (A BPF load or run that the kernel gave up with EAGAIN, as when a Go preemption signal
	// is pending, is retried by the library.)
	if rc := C.pr_new(croot, engine, reuseIdleStat, identityCache, &s, &name, &reason, &msg); rc != 0 {
		return nil, "", "", libErr("scanner_new", rc, msg)
	}
	return s, C.GoString(name), C.GoString(reason), nil
}

func newBackend(root, engine string, opts Options) (backend, string, string, error) {
	if v := C.procuring_abi_version(); v != C.PROCURING_ABI_VERSION {
		return nil, "", "", &LibraryError{Op: "abi_version", Msg: "libprocuring ABI " + strconv.Itoa(int(v)) +
			", this package was built for " + strconv.Itoa(C.PROCURING_ABI_VERSION)}
	}
	var e C.uint32_t
	switch engine {
	case EngineURing:
		e = C.PROCURING_ENGINE_URING
	case EngineSync:
		e = C.PROCURING_ENGINE_SYNC
	case EngineBPF:
		e = C.PROCURING_ENGINE_BPF
	default:
		e = C.PROCURING_ENGINE_AUTO
	}
	var reuse, identCache C.uint32_t
	if opts.ReuseIdleStat {
		reuse = 1
	}
	if opts.IdentityCache {
		identCache = 1
	}
	s, name, reason, err := newScanner(root, e, reuse, identCache)
	if err != nil {
		return nil, "", "", err
	}
	b := &cBackend{h: &handles{}, root: root, engine: C.PROCURING_ENGINE_SYNC, reuse: reuse, identCache: identCache}
	if name == EngineURing {
		b.engine = C.PROCURING_ENGINE_URING
	}
	b.walk = name == EngineBPF
	b.h.list.c = s
	runtime.AddCleanup(b, func(h *handles) {
		h.list.free()
		h.sub.free()
	}, b.h)
	return b, name, reason, nil
}

func (b *cBackend) close() {
	b.h.list.mu.Lock()
	b.closed = true
	b.cache, b.spare = nil, nil
	b.h.list.mu.Unlock()
	b.h.list.free()
	b.h.sub.free()
}

func (b *cBackend) listPids() ([]int32, error) {
	s := &b.h.list
	s.mu.Lock()
	defer s.mu.Unlock()
	defer runtime.KeepAlive(b)
	if s.c == nil {
		return nil, ErrClosed
	}
	n := room(b.pidHint)
	for {
		buf := make([]int32, n)
		var got C.size_t
		var msg *C.char
		rc := C.pr_list(s.c, (*C.int32_t)(unsafe.Pointer(&buf[0])), C.size_t(n), &got, &msg)
		switch rc {
		case 0:
			b.pidHint = int(got)
			return buf[:got:got], nil
		case C.PROCURING_ERR_BUFFER_TOO_SMALL:
			n = room(int(got))
		default:
			return nil, libErr("list_pids", rc, msg)
		}
	}
}

func (b *cBackend) scanList(files, flags uint32, pids, scan []int32, statB *batch) (*batch, error) {
	return b.scanWithCache(files, flags, pids, scan, statB)
}

func (b *cBackend) scanAll(files, flags uint32) (*batch, error) {
	return b.scanWithCache(files, flags, nil, nil, nil)
}

// scanWithCache scans with the listing scanner. The identity texts the library serves
// from its cache are not copied (scanOmitCached): build takes them from the Go-side cache
// of the previous scan, which holds what the library served for each process.
// pids are those of the listing (nil: a scan of all), scan those to read (a subset).
func (b *cBackend) scanWithCache(files, flags uint32, pids, scan []int32, statB *batch) (*batch, error) {
	s := &b.h.list
	s.mu.Lock()
	defer s.mu.Unlock()
	defer runtime.KeepAlive(b)
	if s.c == nil {
		return nil, ErrClosed
	}
	if b.walk && b.identCache == 0 && pids == nil && files == 1<<FileStat && flags == 0 {
		// The bpf engine's stat of every process: written by the walk into the batch's
		// own arrays (no copy out of the snapshot). (With identCache, the scan goes through
		// build, which keeps the Go-side identity cache in step with the library's.)
		return b.walkStat()
	}
	if b.identCache == 0 {
		// Exact identity (every text read by this scan): nothing to take from a Go cache.
		snap, err := s.scan(files, flags, scan)
		if err != nil {
			return nil, err
		}
		b.last = snap.stats
		bt, _, _ := build(snap, files, pids, false, nil, nil, nil)
		return bt, nil
	}
	snap, err := s.scan(files, flags|scanOmitCached, scan)
	if err != nil {
		b.dropCache()
		return nil, err
	}
	b.last = snap.stats
	bt, next, ok := build(snap, files, pids, true, b.cache, b.spare[:0], statB)
	if !ok {
		// The library left out a text it served from its cache that the Go side does not
		// have (the Go cache was dropped after an error, or the process was missing from
		// the last scan and is back). Read the batch again as without the flags: stat
		// re-read, every text in the arena, nothing taken from the old Go cache.
		b.rescans++
		snap, err = s.scan(files, flags&^scanSkipStat, scan)
		if err != nil {
			b.dropCache()
			return nil, err
		}
		b.last = snap.stats
		if bt, next, ok = build(snap, files, pids, true, nil, next[:0], nil); !ok {
			b.dropCache()
			return nil, &LibraryError{Op: "scan_files", Msg: "identity text left out without scanOmitCached"}
		}
	}
	b.cache, b.spare = next, b.cache
	clear(b.spare[:cap(b.spare)]) // drop references to identities no longer cached
	return bt, nil
}

// room is the capacity to ask the library to fill for n processes (as many as last time,
// or as it said it has): an eighth more, for the processes created since.
func room(n int) int { return n + n/8 + 64 }

// walkStat is a batch of stat of every process from one walk of the bpf engine, which
// writes into the batch's arrays: sized from the last walk, walked again with more room
// when processes were created since (rare). Called with h.list.mu held.
func (b *cBackend) walkStat() (*batch, error) {
	s := &b.h.list
	n := room(b.pidHint)
	for {
		bt := new(batch)
		heads, stats := make([]recHead, n), takeStats(bt, n)
		var got, arenaLen C.size_t
		var arena *C.uint8_t
		s.msg = nil
		rc := C.pr_walk(s.c, (*C.procuring_stat_head)(unsafe.Pointer(&heads[0])),
			(*C.procuring_stat)(unsafe.Pointer(&stats[0])), C.size_t(n), &got, &arena, &arenaLen,
			&b.last, &s.msg)
		switch rc {
		case 0:
			b.pidHint = int(got)
			k := int(got)
			bt.heads, bt.stats = heads[:k:k], stats[:k:k]
			if arenaLen > 0 {
				bt.text = C.GoStringN((*C.char)(unsafe.Pointer(arena)), C.int(arenaLen))
			}
			return bt, nil
		case C.PROCURING_ERR_BUFFER_TOO_SMALL:
			n = room(int(got))
		default:
			return nil, libErr("walk_stat", rc, s.msg)
		}
	}
}

// scanCounters are counters of the last scan of the listing scanner (for tests).
type scanCounters struct {
	returned, heldReads, opened, cached uint32
	statReused                          uint32
	arenaLen                            int // bytes of text in its snapshot
	rescans                             int // batches read twice so far (see scanWithCache)
}

func (b *cBackend) lastScan() scanCounters {
	s := &b.h.list
	s.mu.Lock()
	defer s.mu.Unlock()
	return scanCounters{
		returned: uint32(b.last.returned), heldReads: uint32(b.last.held_reads),
		opened: uint32(b.last.opened), cached: uint32(b.last.cached), statReused: uint32(b.last.stat_reused),
		arenaLen: int(s.snap.arena_len), rescans: b.rescans,
	}
}

// dropCache forgets the Go-side identity cache: the library may have refreshed its own
// without us seeing the texts.
func (b *cBackend) dropCache() {
	clear(b.cache[:cap(b.cache)])
	b.cache = b.cache[:0]
}

func (b *cBackend) scanPids(files, flags uint32, pids []int32) (*batch, error) {
	s := &b.h.sub
	s.mu.Lock()
	defer s.mu.Unlock()
	defer runtime.KeepAlive(b)
	if s.c == nil {
		b.h.list.mu.Lock()
		closed := b.closed
		b.h.list.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		c, _, _, err := newScanner(b.root, b.engine, b.reuse, b.identCache)
		if err != nil {
			return nil, err
		}
		s.c = c
	}
	snap, err := s.scan(files, flags, pids)
	if err != nil {
		return nil, err
	}
	bt, _, _ := build(snap, files, pids, false, nil, nil, nil)
	return bt, nil
}

// scan runs one scan (s.mu held) and returns the view of its result, valid until the
// next scan of s.
func (s *cScanner) scan(files, flags uint32, pids []int32) (*C.procuring_snapshot, error) {
	var p *C.int32_t
	if len(pids) > 0 {
		p = (*C.int32_t)(unsafe.Pointer(&pids[0]))
	}
	s.msg = nil
	if rc := C.pr_scan(s.c, C.uint32_t(files), C.uint32_t(flags), p, C.size_t(len(pids)), &s.snap, &s.msg); rc != 0 {
		return nil, libErr("scan_files", rc, s.msg)
	}
	return &s.snap, nil
}

// spareStats are stat arrays of batches the garbage collector found unreachable, for the
// next batches: a scan of every process allocated and zeroed one of ~0.5 MB per 2,000
// processes, which a collector refreshing every few seconds paid again each time (zeroing,
// page faults, and the collections that allocation rate set off). build writes every
// element of the array it takes. Guarded by its mutex; at most spareMax arrays (each
// 256 bytes per process: 0.5 MB at 2,000 processes).
var spareStats struct {
	mu   sync.Mutex
	free [][]rawStat
}

const (
	spareMax = 2
	// spareMin: smaller arrays are allocated (a window's batch).
	spareMin = 256
)

// takeStats returns a stat array of n elements for bt (not zeroed when recycled), handed
// back when bt is unreachable.
func takeStats(bt *batch, n int) []rawStat {
	if n < spareMin {
		return make([]rawStat, n)
	}
	var s []rawStat
	spareStats.mu.Lock()
	for k := len(spareStats.free) - 1; k >= 0; k-- {
		if cap(spareStats.free[k]) >= n {
			s = spareStats.free[k][:n]
			last := len(spareStats.free) - 1
			spareStats.free[k] = spareStats.free[last]
			spareStats.free[last] = nil
			spareStats.free = spareStats.free[:last]
			break
		}
	}
	spareStats.mu.Unlock()
	if s == nil {
		s = make([]rawStat, n, n+n/8)
	}
	runtime.AddCleanup(bt, giveStats, s)
	return s
}

// giveStats takes back the stat array of a batch that is gone.
func giveStats(s []rawStat) {
	spareStats.mu.Lock()
	if len(spareStats.free) < spareMax {
		spareStats.free = append(spareStats.free, s[:0])
	}
	spareStats.mu.Unlock()
}

func identStr(r *C.procuring_record, f File) C.procuring_str {
	switch f {
	case FileComm:
		return r.comm
	case FileCmdline:
		return r.cmdline
	case FileExe:
		return r.exe
	case FileCgroup:
		return r.cgroup
	default:
		return r.environ
	}
}

// build copies a snapshot into Go values: one allocation per slice of the batch, one for
// the text the batch needs, and (with useCache) one identity per process whose identity
// texts were read (not served from the library's cache) this scan.
//
// With useCache, old is the Go-side cache after the previous scan of the same scanner
// (see cBackend.cache) and the new one is appended to next, one entry per record. A text
// the library served from its cache (bit in cached_mask; with scanOmitCached not in
// read_mask and not in the arena) is taken from old: the library's cache entry of a pid
// is the one it had at the previous scan unless stat shows another starttime, and old
// holds what it served then. When a left-out text is not in old, build returns false
// and the scan must be made again without scanOmitCached. statB (optional) is a batch of
// the same pids with stat: the starttime of a process whose stat the library skipped
// (scanSkipStat) and that old does not have.
func build(snap *C.procuring_snapshot, files uint32, pids []int32, useCache bool, old, next []identRef, statB *batch) (*batch, []identRef, bool) {
	n := int(snap.count)
	var recs []C.procuring_record
	if n > 0 {
		recs = unsafe.Slice(snap.records, n)
	}
	var arena []byte
	if snap.arena_len > 0 {
		arena = unsafe.Slice((*byte)(unsafe.Pointer(snap.arena)), int(snap.arena_len))
	}
	const statBit, statusBit, ioBit, schedBit = 1 << FileStat, 1 << FileStatus, 1 << FileIO, 1 << FileSchedstat
	idFiles := files & identityMask

	// Pass 1: the cache entry of each process (its starttime and previous identity), the
	// length of the text to copy, and whether every text left out is one we have.
	base := len(next)
	need := 0
	j, k := 0, 0
	// A scan of all processes for stat alone (the bpf engine's walk: its arena is their
	// comms) keeps the arena whole, copied in one move: the records' offsets stay valid.
	whole := pids == nil && !useCache && files == statBit
	pass1 := recs
	if whole {
		pass1 = nil // nothing to count
	}
	for i := range pass1 {
		r := &recs[i]
		read := uint32(r.read_mask)
		cached := uint32(r.cached_mask) & idFiles
		var o *identity
		if useCache {
			pid := int32(r.pid)
			for j < len(old) && old[j].pid < pid {
				j++
			}
			var prev *identRef
			if j < len(old) && old[j].pid == pid {
				prev = &old[j]
			}
			var start uint64
			switch {
			case read&statBit != 0:
				start = uint64(r.stat.starttime)
				if prev != nil && prev.start == start {
					o = prev.id
				}
			case prev != nil:
				// stat not read (skipped, or unparsable): the library kept its entry, as is ours.
				start, o = prev.start, prev.id
			case statB != nil:
				start = statB.starttime(pid, pids, &k)
			}
			next = append(next, identRef{pid: pid, start: start, id: o})
		}
		if read&statBit != 0 && files&statBit != 0 {
			need += int(r.stat.comm.len)
		}
		if read&statusBit != 0 {
			need += int(r.status.name.len + r.status.nspids.len + r.status.cpus_allowed_list.len)
		}
		if idFiles&(read|cached) == 0 {
			continue
		}
		for f := FileComm; f < numFiles; f++ {
			bit := uint32(1) << f
			if idFiles&bit == 0 {
				continue
			}
			have := o != nil && o.have&bit != 0
			switch {
			case read&bit != 0:
				if !have || cached&bit == 0 {
					need += int(identStr(r, f).len)
				}
			case cached&bit != 0 && !have:
				return nil, next, false
			}
		}
	}

	bt := &batch{heads: make([]recHead, n)}
	if files&statBit != 0 {
		bt.stats = takeStats(bt, n)
	}
	if files&statusBit != 0 {
		bt.status = make([]statusRec, n)
	}
	if files&ioBit != 0 {
		bt.ios = make([]ProcIO, n)
	}
	if files&schedBit != 0 {
		bt.scheds = make([]ProcSchedstat, n)
	}
	var fresh []identity // without useCache: every process's identity, in one allocation
	if idFiles != 0 {
		bt.ids = make([]*identity, n)
		if !useCache {
			fresh = make([]identity, n)
		}
	}

	// One array for every text of the batch (need bytes: never reallocated), which the
	// strings of the batch are cut from.
	var buf []byte
	if whole {
		bt.text = string(arena)
	} else {
		buf = make([]byte, 0, need)
		if need > 0 {
			bt.text = unsafe.String(&buf[:1][0], need)
		}
	}
	takeRef := func(s C.procuring_str) strRef {
		if whole {
			return strRef{off: uint32(s.off), len: uint32(s.len)}
		}
		start := len(buf)
		buf = append(buf, arena[s.off:s.off+s.len]...)
		return strRef{off: uint32(start), len: uint32(s.len)}
	}
	take := func(s C.procuring_str) string {
		r := takeRef(s)
		return bt.text[r.off : r.off+r.len]
	}

	// Pass 2: copy.
	for i := range recs {
		r := &recs[i]
		read := uint32(r.read_mask)
		cached := uint32(r.cached_mask) & idFiles
		h := &bt.heads[i]
		h.pid = int32(r.pid)
		h.read = (read | cached) & files
		if h.read != files { // errors are of files not read (the others are 0)
			for k := range numFiles {
				if c := int32(r.errors[k]); c != 0 {
					bt.setErr(i, k, c)
				}
			}
		}
		h.state = byte(r.state)
		if bt.stats != nil {
			rs := &bt.stats[i]
			if read&statBit != 0 {
				*rs = *(*rawStat)(unsafe.Pointer(&r.stat))
				rs.comm = takeRef(r.stat.comm)
			} else {
				*rs = rawStat{} // (a recycled array is not zeroed)
			}
		}
		if bt.status != nil && read&statusBit != 0 {
			c := &r.status
			bt.status[i] = statusRec{
				s:      statusOf(c, statusValue(take(c.name))),
				nspids: statusValue(take(c.nspids)),
				cpus:   statusValue(take(c.cpus_allowed_list)),
			}
		}
		if bt.ios != nil && read&ioBit != 0 {
			c := &r.io
			bt.ios[i] = ProcIO{
				RChar: uint64(c.rchar), WChar: uint64(c.wchar), SyscR: uint64(c.syscr),
				SyscW: uint64(c.syscw), ReadBytes: uint64(c.read_bytes),
				WriteBytes: uint64(c.write_bytes), CancelledWriteBytes: int64(c.cancelled_write_bytes),
			}
		}
		if bt.scheds != nil && read&schedBit != 0 {
			c := &r.schedstat
			bt.scheds[i] = ProcSchedstat{
				RunningNanoseconds: uint64(c.run_ns), WaitingNanoseconds: uint64(c.wait_ns),
				RunTimeslices: uint64(c.timeslices),
			}
		}
		var o *identity
		if useCache {
			o = next[base+i].id
		}
		if bt.ids == nil {
			continue
		}
		id := o
		for f := FileComm; f < numFiles; f++ {
			bit := uint32(1) << f
			if idFiles&bit == 0 {
				continue
			}
			var s string
			switch {
			case read&bit != 0:
				if o != nil && o.have&bit != 0 && cached&bit != 0 {
					continue // served from the library's cache: our copy is the same text
				}
				s = take(identStr(r, f))
				if id != nil && id.have&bit == 0 {
					// A file the identity does not have yet is added in place: the batches
					// that share it read only the files they have (in their heads' read
					// mask, set only when the identity had them), and have is read only
					// here, under the scanner's lock.
					id.s[f-FileComm] = s
					id.have |= bit
					continue
				}
			case cached&bit != 0:
				continue // left out (scanOmitCached): our copy, checked by pass 1
			default: // not read: an error
				if id == nil || id.have&bit == 0 {
					continue
				}
			}
			if id == o { // copy on write: o may be in use by earlier batches
				if fresh != nil {
					id = &fresh[i]
				} else {
					id = new(identity)
				}
				if o != nil {
					*id = *o
				}
			}
			id.s[f-FileComm] = s
			if read&bit != 0 {
				id.have |= bit
			} else {
				id.have &^= bit
			}
		}
		bt.ids[i] = id
		if useCache {
			next[base+i].id = id
		}
	}

	if pids != nil {
		bt.pos = make([]int32, len(pids))
		j := 0
		for i, pid := range pids {
			for j < n && bt.heads[j].pid < pid {
				j++
			}
			if j < n && bt.heads[j].pid == pid {
				bt.pos[i] = int32(j)
			} else {
				bt.pos[i] = -1
			}
		}
		if n < len(pids) && files&statBit != 0 {
			bt.live = make([]int32, n)
			for i := range bt.heads {
				bt.live[i] = bt.heads[i].pid
			}
		}
	}
	return bt, next, true
}

// starttime returns the starttime of pid in b, a batch of pids with stat (0 if b does not
// have it). Calls must come in ascending pid order with the same *k (starting at 0).
func (b *batch) starttime(pid int32, pids []int32, k *int) uint64 {
	for *k < len(pids) && pids[*k] < pid {
		*k++
	}
	if *k >= len(pids) || pids[*k] != pid {
		return 0
	}
	var ri int
	switch {
	case b.pos == nil && *k < len(b.heads): // a walk: the records are the listing
		ri = *k
	case *k < len(b.pos):
		ri = int(b.pos[*k])
	default:
		return 0
	}
	if ri < 0 || b.stats == nil || b.heads[ri].read&(1<<FileStat) == 0 {
		return 0
	}
	return b.stats[ri].starttime
}

func statusOf(c *C.procuring_status, name string) procfs.ProcStatus {
	st := procfs.ProcStatus{
		Name:                     name,
		TGID:                     int(c.tgid),
		VmPeak:                   uint64(c.vm_peak),
		VmSize:                   uint64(c.vm_size),
		VmLck:                    uint64(c.vm_lck),
		VmPin:                    uint64(c.vm_pin),
		VmHWM:                    uint64(c.vm_hwm),
		VmRSS:                    uint64(c.vm_rss),
		RssAnon:                  uint64(c.rss_anon),
		RssFile:                  uint64(c.rss_file),
		RssShmem:                 uint64(c.rss_shmem),
		VmData:                   uint64(c.vm_data),
		VmStk:                    uint64(c.vm_stk),
		VmExe:                    uint64(c.vm_exe),
		VmLib:                    uint64(c.vm_lib),
		VmPTE:                    uint64(c.vm_pte),
		VmPMD:                    uint64(c.vm_pmd),
		VmSwap:                   uint64(c.vm_swap),
		HugetlbPages:             uint64(c.hugetlb_pages),
		VoluntaryCtxtSwitches:    uint64(c.voluntary_ctxt_switches),
		NonVoluntaryCtxtSwitches: uint64(c.nonvoluntary_ctxt_switches),
		UIDs:                     [4]uint64{uint64(c.uids[0]), uint64(c.uids[1]), uint64(c.uids[2]), uint64(c.uids[3])},
		GIDs:                     [4]uint64{uint64(c.gids[0]), uint64(c.gids[1]), uint64(c.gids[2]), uint64(c.gids[3])},
	}
	setStatusCaps(&st, [5]uint64{uint64(c.cap_inh), uint64(c.cap_prm), uint64(c.cap_eff),
		uint64(c.cap_bnd), uint64(c.cap_amb)})
	return st
}

// rawStat is procuring_stat: same size, same offsets, field by field (compile-time
// checks; a field of another meaning at the same place would show in the differential
// tests, which compare every Stat field with procfs's).
var cStat C.procuring_stat
var _ = [1]struct{}{}[unsafe.Sizeof(rawStat{})-unsafe.Sizeof(cStat)]

var _ = [1]struct{}{}[unsafe.Sizeof(strRef{})-unsafe.Sizeof(cStat.comm)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.ppid)-unsafe.Offsetof(cStat.ppid)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.pgrp)-unsafe.Offsetof(cStat.pgrp)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.session)-unsafe.Offsetof(cStat.session)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.tty)-unsafe.Offsetof(cStat.tty)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.tpgid)-unsafe.Offsetof(cStat.tpgid)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.flags)-unsafe.Offsetof(cStat.flags)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.minflt)-unsafe.Offsetof(cStat.minflt)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.cminflt)-unsafe.Offsetof(cStat.cminflt)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.majflt)-unsafe.Offsetof(cStat.majflt)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.cmajflt)-unsafe.Offsetof(cStat.cmajflt)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.utime)-unsafe.Offsetof(cStat.utime)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.stime)-unsafe.Offsetof(cStat.stime)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.cutime)-unsafe.Offsetof(cStat.cutime)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.cstime)-unsafe.Offsetof(cStat.cstime)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.priority)-unsafe.Offsetof(cStat.priority)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.nice)-unsafe.Offsetof(cStat.nice)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.numThreads)-unsafe.Offsetof(cStat.num_threads)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.starttime)-unsafe.Offsetof(cStat.starttime)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.vsize)-unsafe.Offsetof(cStat.vsize)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.rss)-unsafe.Offsetof(cStat.rss)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.rsslim)-unsafe.Offsetof(cStat.rsslim)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.startcode)-unsafe.Offsetof(cStat.startcode)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.endcode)-unsafe.Offsetof(cStat.endcode)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.startstack)-unsafe.Offsetof(cStat.startstack)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.processor)-unsafe.Offsetof(cStat.processor)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.rtPriority)-unsafe.Offsetof(cStat.rt_priority)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.policy)-unsafe.Offsetof(cStat.policy)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.delayacctBlkioTicks)-unsafe.Offsetof(cStat.delayacct_blkio_ticks)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.guestTime)-unsafe.Offsetof(cStat.guest_time)]
var _ = [1]struct{}{}[unsafe.Offsetof(rawStat{}.cguestTime)-unsafe.Offsetof(cStat.cguest_time)]

// recHead is the library's procuring_stat_head, field for field (the bpf walk writes it).
var cHead C.procuring_stat_head

var _ = [1]struct{}{}[unsafe.Sizeof(recHead{})-unsafe.Sizeof(cHead)]
var _ = [1]struct{}{}[unsafe.Offsetof(recHead{}.read)-unsafe.Offsetof(cHead.read_mask)]
var _ = [1]struct{}{}[unsafe.Offsetof(recHead{}.state)-unsafe.Offsetof(cHead.state)]

// compile-time checks that the File values are the library's indices.
var _ = [1]struct{}{}[FileStat-C.PROCURING_FILE_STAT]
var _ = [1]struct{}{}[FileStatus-C.PROCURING_FILE_STATUS]
var _ = [1]struct{}{}[FileIO-C.PROCURING_FILE_IO]
var _ = [1]struct{}{}[FileComm-C.PROCURING_FILE_COMM]
var _ = [1]struct{}{}[FileCmdline-C.PROCURING_FILE_CMDLINE]
var _ = [1]struct{}{}[FileExe-C.PROCURING_FILE_EXE]
var _ = [1]struct{}{}[FileCgroup-C.PROCURING_FILE_CGROUP]
var _ = [1]struct{}{}[FileEnviron-C.PROCURING_FILE_ENVIRON]
var _ = [1]struct{}{}[FileSchedstat-C.PROCURING_FILE_SCHEDSTAT]
var _ = [1]struct{}{}[numFiles-C.PROCURING_FILE_COUNT]
var _ = [1]struct{}{}[codeParse-C.PROCURING_FILE_ERR_PARSE]
var _ = [1]struct{}{}[scanRefreshIdentity-C.PROCURING_SCAN_REFRESH_IDENTITY]
var _ = [1]struct{}{}[scanSkipStat-C.PROCURING_SCAN_SKIP_STAT]
var _ = [1]struct{}{}[scanOmitCached-C.PROCURING_SCAN_OMIT_CACHED]

// trimCHeap returns the C heap's free memory to the kernel (glibc keeps freed memory in
// per-thread arenas, and cgo calls run on many threads): for tests that measure RSS for leaks.
func trimCHeap() { C.malloc_trim(0) }
