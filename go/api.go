package procuring

// The exported API of procfs's root package is all here, with procfs's signatures
// (api_surface_test.go checks it against the procfs the build selects):
//
//   - hand-written (this file's neighbours): FS, Proc, Procs and ProcStat, which this
//     package defines itself; the process files it reads in batches (Proc.Stat, NewStat,
//     NewStatus, IO, Schedstat, Comm, CmdLine, Executable, Cgroups, Environ); the
//     constructors (NewFS, NewDefaultFS, AllProcs, Self, NewProc); threads (threads.go);
//   - generated (zz_generated_api.go, by internal/apigen): every other type as an alias of
//     procfs's, procfs's constants and variables, package-level functions that call
//     procfs's, and FS and Proc methods that call procfs's on the same mount point, with
//     procfs's values and errors (FS.Stat, FS.CPUInfo, FS.Meminfo, Proc.Limits,
//     Proc.FileDescriptorsLen, Proc.Wchan, ...).
//
// After a change of the procfs version or of the hand-written API, run `go generate`.

//go:generate go run ./internal/apigen
