// Package procuring reads /proc like github.com/prometheus/procfs, in batches.
//
// It offers the whole exported API of procfs's root package, with procfs's signatures, the
// same values and the same kinds of errors, so that replacing the import path is enough
// (see api.go for what is hand-written and what is generated). The process files most
// collectors read of every process (Proc.Stat, NewStatus, IO, Schedstat, Comm, CmdLine,
// Executable, Cgroups, Environ) are read in batches; everything else calls procfs on the
// same mount point. Underneath, a file that most Procs of a listing (the Procs returned by
// one AllProcs call) ask for is read for every process of the listing in one scan of
// libprocuring (io_uring or plain syscalls, descriptors of stat/status/io held open across
// scans), and the other Procs of the listing answer from memory; a file asked of a few costs
// about one read per process asked.
//
// # Exact values, as of a batch
//
// Every value is what the kernel showed during the batch that read it, as procfs would
// have read it then: identity files (comm, cmdline, exe, cgroup, environ) are read again by
// every batch that asks for them, so an exec, a rename, a cgroup move or an argv rewrite is
// seen by the next listing, and no error is remembered. Options.IdentityCache opts in to
// the library's per-process identity cache (cheaper, values possibly older; see Options).
//
// A Proc that came from a listing answers every call with the values of the batch that
// first read the file for it: calling Stat twice on the same Proc returns the same
// numbers. Call AllProcs again (the usual pattern of a collector), Procs.Refresh, or
// Proc.Refresh to read fresh values. A Proc made by NewProc, FS.Proc or Self is not part of
// a listing: each of its calls reads the file again (one single-pid scan), as procfs does.
//
// With the bpf engine the listing itself is a batch: AllProcs is one library scan in which
// a BPF program walks the kernel's task list, lists every process and reads its stat (no
// directory listing of /proc, no file opened per process), and that batch answers Stat and
// Comm of every Proc of the listing. Comm is stat's comm, trimmed as procfs trims the comm
// file: the kernel prints /proc/<pid>/comm and the comm of stat with the same function,
// and the walk's comm is that text (the library reads a workqueue worker's from /proc).
// Values are therefore as of AllProcs: a process that exits after AllProcs still answers
// Stat and Comm with the walk's values (with the other engines, as of the first Stat).
// The other files (Executable, CmdLine, Cgroups, Environ, NewStatus, IO, Schedstat) are
// read as with the sync engine, when asked.
//
// The first call of a file on a Proc not read yet reads a window of processes from it on
// in listing order: one at first, twice as many while calls come in listing order, and the
// whole listing in one scan once the windows would have read a quarter of it. The files that at least half
// of a listing's processes asked for are read by the first batch of the next listing of the
// same FS, so a steady-state collector makes one scan per listing. Options.Prefetch adds
// files to that set.
//
// # Engines and fallback
//
// FS.Engine reports which engine runs: "uring", "sync" or "bpf" (libprocuring; auto picks
// bpf when it loads: root or CAP_BPF + CAP_PERFMON, on the live /proc; else sync), or "procfs"
// (plain github.com/prometheus/procfs calls) with the reason: built without cgo, no
// prebuilt library in this module for the platform, the library refused to start, or asked
// for.
//
// # Build
//
// The module carries libprocuring prebuilt as a static archive for linux/amd64 (lib/), which
// cgo links into the binary: no Rust toolchain and no shared library are needed. With the
// build tag procuring_system it links the installed library through pkg-config instead. The environment variable PROCURING_ENGINE
// (auto, uring, sync, bpf, procfs) or Options.Engine forces one; a forced engine that cannot run
// makes NewFS fail with the cause instead of silently using another.
//
// Proc.Procfs returns the plain procfs.Proc of the same process.
package procuring
