// Package procuring reads /proc like github.com/prometheus/procfs, in batches.
//
// It offers the process part of procfs's API (FS, NewFS, AllProcs, Proc, Proc.Stat,
// Proc.NewStatus, Proc.Comm, Proc.CmdLine, Proc.Executable, Proc.Cgroups, Proc.Environ,
// Proc.IO, Self, NewProc) with the same values and the same kinds of errors, so that
// replacing the import path is enough for most programs. Underneath, the first call of a
// method on any Proc of a listing (the Procs returned by one AllProcs call) reads that file
// for every process of the listing in one scan of libprocuring (io_uring or plain
// syscalls, descriptors of stat/status/io held open across scans, identity files such as
// comm and cmdline cached per process lifetime), and the other Procs of the listing answer
// from memory.
//
// # Values are as of a batch
//
// A Proc that came from a listing answers every call with the values of the batch that
// first read the file for its listing: calling Stat twice on the same Proc returns the same
// numbers. Call AllProcs again (the usual pattern of a collector), Procs.Refresh, or
// Proc.Refresh to read fresh values. A Proc made by NewProc, FS.Proc or Self is not part of
// a listing: each of its calls reads the file again (one single-pid scan), as procfs does.
//
// The files asked of a listing are remembered per FS ("sticky"): once any listing of an FS
// was asked for, say, Comm, the first batch of later listings reads comm too, so a
// steady-state collector makes one scan per listing. Options.Prefetch starts that set.
//
// # Engines and fallback
//
// FS.Engine reports which engine runs: "uring" or "sync" (libprocuring), or "procfs"
// (plain github.com/prometheus/procfs calls) with the reason: built without cgo, no
// prebuilt library in this module for the platform, the library refused to start, or asked
// for.
//
// # Build
//
// The module carries libprocuring prebuilt as a static archive for linux/amd64 (lib/), which
// cgo links into the binary: no Rust toolchain and no shared library are needed. With the
// build tag procuring_system it links the installed library through pkg-config instead. The environment variable PROCURING_ENGINE
// (auto, uring, sync, procfs) or Options.Engine forces one; a forced engine that cannot run
// makes NewFS fail with the cause instead of silently using another.
//
// Anything beyond the process files above is available through Proc.Procfs, which returns
// the plain procfs.Proc.
package procuring
