package procuring

import (
	"path/filepath"
	"strconv"

	"github.com/prometheus/procfs"
)

// Threads: /proc/<pid>/task/<tid> has the files of /proc/<pid>, and procfs reads them
// through an FS rooted at /proc/<pid>/task. The Procs of these functions read through
// procfs on that FS (one process's threads are few; no batch): procfs's values and errors.
// An FS made by NewFS("/proc/<pid>/task") is an ordinary FS of this package (its
// listings are batched like any other).

// AllThreads returns the threads of process pid of /proc.
func AllThreads(pid int) (Procs, error) {
	fs, err := defaultFS()
	if err != nil {
		return Procs{}, err
	}
	return fs.AllThreads(pid)
}

// AllThreads returns the threads of process pid (the entries of <mount>/<pid>/task).
func (fs FS) AllThreads(pid int) (Procs, error) {
	tt, err := fs.pfs.AllThreads(pid)
	if err != nil {
		return Procs{}, err
	}
	l, err := fs.taskListing(pid)
	if err != nil {
		return Procs{}, err
	}
	ps := make(Procs, len(tt))
	for i, t := range tt {
		ps[i] = Proc{PID: t.PID, l: l}
	}
	return ps, nil
}

// Thread returns thread tid of process pid.
func (fs FS) Thread(pid, tid int) (Proc, error) {
	if _, err := fs.pfs.Thread(pid, tid); err != nil {
		return Proc{}, err
	}
	l, err := fs.taskListing(pid)
	if err != nil {
		return Proc{}, err
	}
	return Proc{PID: tid, l: l}, nil
}

// Thread returns thread tid of p.
func (p Proc) Thread(tid int) (Proc, error) {
	if _, err := p.Procfs().Thread(tid); err != nil {
		return Proc{}, err
	}
	var fs FS
	if p.l != nil && p.l.fs != nil {
		fs = FS{pfs: p.l.fs.pfs, st: p.l.fs}
	}
	l, err := fs.taskListing(p.PID)
	if err != nil {
		return Proc{}, err
	}
	return Proc{PID: tid, l: l}, nil
}

// taskListing is the listing of the procfs engine over <mount>/<pid>/task.
func (fs FS) taskListing(pid int) (*listing, error) {
	root := ""
	if fs.st != nil {
		root = fs.st.root
	}
	task := filepath.Join(root, strconv.Itoa(pid), "task")
	pfs, err := procfs.NewFS(task)
	if err != nil {
		return nil, err
	}
	st := &fsState{root: task, pfs: pfs, engine: EngineProcfs, reason: "threads of one process"}
	st.pl = &listing{fs: st}
	return st.pl, nil
}
