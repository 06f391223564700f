package procuring

import (
	"fmt"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/procfs"
)

// listing is what the Procs of one AllProcs call share: their pids and, per file, the
// batch that read it.
type listing struct {
	fs     *fsState
	pids   []int32 // ascending; Proc.i indexes it
	single bool    // one Proc not from AllProcs: every call reads again

	mu      sync.Mutex
	src     [numFiles]atomic.Pointer[batch]
	refresh bool // the next batch re-reads identity files
}

// get returns the batch holding file f for the listing, reading it (with the sticky
// files of the FS that this listing has not read yet) on first use.
func (l *listing) get(f File) (*batch, error) {
	if b := l.src[f].Load(); b != nil {
		return b, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.src[f].Load(); b != nil {
		return b, nil
	}
	sticky := l.fs.sticky.Or(1<<f) | 1<<f
	// Stat is read by the first batch of the listing; later batches (another file, or
	// sticky files not read yet) skip it: the library then reads only those files, and
	// stat only for pids it has not seen (it keys its identity cache).
	statB := l.src[FileStat].Load()
	var mask, flags uint32
	if statB == nil {
		mask = 1 << FileStat
	} else {
		flags |= scanSkipStat
	}
	for g := range numFiles {
		if sticky&(1<<g) != 0 && l.src[g].Load() == nil {
			mask |= 1 << g
		}
	}
	if l.refresh {
		flags |= scanRefreshIdentity
	}
	b, err := l.fs.be.scanList(mask, flags, l.pids, statB)
	if err != nil {
		return nil, err
	}
	l.refresh = false
	l.fs.scans.Add(1)
	for g := range numFiles {
		if mask&(1<<g) != 0 && l.src[g].Load() == nil {
			l.src[g].Store(b)
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
	}
	l.refresh = true
	l.mu.Unlock()
}

// batch is one library scan copied into Go values. Immutable once built.
type batch struct {
	// pos maps a listing index to the record index (-1: gone); nil for a scan of all.
	pos    []int32
	heads  []recHead
	stats  []ProcStat      // when stat was asked (always)
	status []statusRec     // when status was asked
	ios    []ProcIO        // when io was asked
	scheds []ProcSchedstat // when schedstat was asked
	ids    []*identity     // when an identity file was asked
	// live: with stat asked of a listing's pids and some of them gone, the pids of the
	// records (the processes later batches of the listing read).
	live []int32
}

// recHead is the per-process part of a record every batch has.
type recHead struct {
	pid   int32
	read  uint32 // files read and parsed
	errs  [numFiles]int32
	state byte
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

// identRef is an entry of the Go-side identity cache (ascending pid): per process of the
// last scan of the listing scanner, the starttime the library knows for it (its identity
// cache key) and the identity texts the library has served for it (nil: none yet).
type identRef struct {
	pid   int32
	start uint64
	id    *identity
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
			r.Errs[f] = codeErr(procPath(root, int(h.pid), f), f, h.errs[f])
			if f == FileExe && os.IsNotExist(r.Errs[f]) {
				r.Errs[f] = nil
				r.read |= 1 << f
			}
			continue
		}
		var err error
		switch f {
		case FileStat:
			r.Stat = b.stats[i]
			r.Stat.fs = pfs
		case FileStatus:
			r.Status, err = b.status[i].value(int(h.pid))
		case FileIO:
			r.IO = b.ios[i]
		case FileSchedstat:
			r.Schedstat = b.scheds[i]
		case FileComm:
			r.Comm = trimComm(b.ids[i].s[f-FileComm])
		case FileCmdline:
			r.CmdLine = splitCmdline(b.ids[i].s[f-FileComm])
		case FileExe:
			r.Executable = b.ids[i].s[f-FileComm]
		case FileCgroup:
			r.Cgroups, err = parseCgroups(b.ids[i].s[f-FileComm])
		case FileEnviron:
			r.Environ = splitEnviron(b.ids[i].s[f-FileComm])
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
