//! How a scanner reads: `Options` (fixed when the scanner is created) and `ScanFlags` (per
//! scan). Every field is documented under its Rust name; the C struct `procuring_options` has
//! one field per option, named as given after "C:".

use std::path::PathBuf;

use crate::engine::uring::UringOptions;
use crate::engine::EngineKind;
use crate::files::{FileSet, ProcFile};

/// Default of `identity_max_age_ms`: 10 seconds.
pub(crate) const DEFAULT_IDENTITY_MAX_AGE_MS: u32 = 10_000;

/// How a scanner reads. `Options::default()` (C: `procuring_options_init`) gives exact values:
/// every file asked for is read in the scan that returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Root of the proc tree. Default `/proc`; a directory of fixture files works too (its
    /// files are opened with `O_NONBLOCK`, so a FIFO cannot hang a scan). C: `proc_root`, a
    /// NUL-terminated path, NULL for `/proc`.
    pub proc_root: PathBuf,
    /// Files a plain scan reads, as a bit set of `1 << file` (`stat` is always added). Default:
    /// every file but `environ` and `schedstat`. C: `files`, bits `1 << PROCURING_FILE_*`.
    pub files: FileSet,
    /// Engine to use: auto (default), uring or sync. C: `engine`, one of
    /// `PROCURING_ENGINE_AUTO`, `PROCURING_ENGINE_URING`, `PROCURING_ENGINE_SYNC`.
    pub engine: EngineKind,
    /// Keep the descriptors of `stat`, `status`, `io` and `schedstat` open across scans and
    /// re-read them at offset 0 (default true). C: `hold_fds`, non-zero for true.
    pub hold_fds: bool,
    /// Most descriptors to hold open across scans; 0 (default) means the process-wide budget.
    /// That budget is half the soft `RLIMIT_NOFILE` read when the scanner is created (the limit
    /// is never raised) and is shared by every scanner of the process; it counts every
    /// descriptor a scanner keeps, its proc root and fork-counter files included, so the
    /// other half always stays free for the host program (a scanner created when the budget
    /// has no room for its proc root fails with `EMFILE`). A uring scanner's cap is also
    /// bounded so its file table fits the limit. Past the cap, files are opened per scan.
    /// C: `max_held_fds`.
    pub max_held_fds: u32,
    /// io_uring tuning: requests per submission, `IOSQE_ASYNC` reads, the io-wq worker cap
    /// (at most `INT_MAX`) and `SINGLE_ISSUER`. C: `uring_batch`, `uring_async`,
    /// `uring_iowq_workers`, `uring_single_issuer`.
    pub uring: UringOptions,
    /// Threads that share the reads of one sync scan (default 1: the calling thread only). More
    /// threads cut wall time, not CPU time (see docs/BENCHMARKS.md); parsing stays on the
    /// calling thread. A thread that cannot be started (`RLIMIT_NPROC`, a pod's `pids.max`)
    /// leaves its share to the calling thread. Ignored by the uring engine (io-wq does its
    /// fan-out). C: `threads`.
    pub threads: u32,
    /// Re-read `stat` only for processes that ran since the last scan (default false). Each
    /// scan then reads `schedstat` (run time, wait time and timeslices of the main thread) of
    /// every process that had one thread at its last `stat`, before its `stat`; one whose
    /// `schedstat`, read through a held descriptor (so a reused pid cannot alias), is
    /// unchanged gets the `stat` fields of its last read, with the stat bit set in both
    /// `read_mask` and `cached_mask`. A new process needs two scans before its `stat` can be
    /// reused. When the descriptor cap cannot hold two files per process, `schedstat` is held
    /// and `stat` only for multi-threaded processes.
    ///
    /// Exact under this option: everything that changes only when the process runs: `utime`,
    /// `stime`, `cutime`, `cstime`, fault counters, `num_threads`, `vsize`, `comm`,
    /// `starttime`. May be as old as the process's last run: what other processes or the
    /// kernel change while it sleeps: `state` (a process woken but not yet run), `ppid`
    /// (re-parenting), `tpgid`, `flags`, `priority`, `nice`, `policy`, `rt_priority`
    /// (`renice`), `rss` (reclaim), `rsslim` (`prlimit`), `processor`. Multi-threaded
    /// processes always get a fresh `stat` (`schedstat` covers the main thread only). For
    /// collectors that want CPU time (Kepler): a scan of idle processes then costs 2-4x less
    /// CPU (measured in docs/BENCHMARKS.md); one of busy processes costs a `schedstat` read
    /// more per process. C: `reuse_idle_stat`, non-zero for true.
    pub reuse_idle_stat: bool,
    /// List the proc root on every scan (default false). By default a scan keeps the pid list
    /// of the previous one when the kernel's fork counter (`processes` in `/proc/stat`,
    /// checked after a cheaper look at `/proc/loadavg`) shows no process was created since:
    /// every process that exists is then in it, and the ones that exited are dropped because
    /// their reads fail (the scan counter `list_reused` says when). Never done with `hidepid`
    /// (a process changing credentials appears without a fork), on a root that is not procfs,
    /// after a scan of given pids, for scans with the skip-stat flag, or while some process's
    /// `stat` is refused (it is not re-read, so its exit would go unseen). C:
    /// `list_every_scan`, non-zero for true.
    pub list_every_scan: bool,
    /// Serve the identity files (`comm`, `cmdline`, `exe`, `cgroup`, `environ`) of a process
    /// from what an earlier scan read (default false: they are read in every scan that asks
    /// for them, as procfs would). A value served this way has its bit in `cached_mask`.
    ///
    /// Staleness contract: a cached value is at most `identity_max_age_ms` old, and is dropped
    /// (the file read again) as soon as a scan's `stat` shows that the process is not the one
    /// the value was read from: another `starttime` (a reused pid), another `comm` (an
    /// `execve` or a `prctl(PR_SET_NAME)`), or other exec addresses (`startcode`, `endcode`,
    /// `startstack`, `arg_start`, `arg_end`, `env_start`, which every `execve` replaces; the
    /// kernel shows them only to a reader allowed to ptrace the process, to others a
    /// same-name `execve` is visible by its comm only). A value is cached only when read after
    /// a `stat` of an earlier scan (a new process's identity is read twice), so it can never
    /// predate the `stat` it is checked against. Never cached: errors other than the
    /// process being gone (`ENOENT`, `ESRCH`), and an empty `cmdline` of a process that is not
    /// a kernel thread (caught inside `execve`, before the kernel set its arguments). Not
    /// seen before the age runs out: changes that move none of these, such as an argv
    /// rewritten in place (`setproctitle`), a move to another cgroup, an `environ` changed in
    /// place; a scan with the skip-stat flag serves what the last `stat` vouched for. The
    /// refresh-identity scan flag re-reads everything. C: `identity_cache`, non-zero for true.
    pub identity_cache: bool,
    /// Longest time a cached identity value is served, in milliseconds; 0 (default) means
    /// 10,000 (10 s). Only used with `identity_cache`. C: `identity_max_age_ms`.
    pub identity_max_age_ms: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proc_root: PathBuf::from("/proc"),
            files: FileSet::ALL
                .minus(FileSet::EMPTY.with(ProcFile::Environ).with(ProcFile::Schedstat)),
            engine: EngineKind::Auto,
            hold_fds: true,
            max_held_fds: 0,
            uring: UringOptions::default(),
            threads: 1,
            reuse_idle_stat: false,
            list_every_scan: false,
            identity_cache: false,
            identity_max_age_ms: 0,
        }
    }
}

impl Options {
    /// The age limit of cached identity values in milliseconds (`identity_max_age_ms`, or its
    /// default when 0).
    pub fn identity_max_age(&self) -> u32 {
        if self.identity_max_age_ms == 0 {
            DEFAULT_IDENTITY_MAX_AGE_MS
        } else {
            self.identity_max_age_ms
        }
    }
}

/// Flags of one scan (C: the `flags` argument of `procuring_scan_files`, bits
/// `PROCURING_SCAN_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanFlags(pub u32);

impl ScanFlags {
    /// No flag.
    pub const NONE: ScanFlags = ScanFlags(0);
    /// Re-read identity files (comm, cmdline, exe, cgroup, environ) even when the identity
    /// cache holds them. C: `PROCURING_SCAN_REFRESH_IDENTITY`.
    pub const REFRESH_IDENTITY: ScanFlags = ScanFlags(1);
    /// Do not re-read `stat` of pids whose `starttime` an earlier scan of this scanner saw
    /// (their records have `stat` neither read nor failed). For a second batch over the same
    /// listing that only wants other files. New pids still get `stat`. C:
    /// `PROCURING_SCAN_SKIP_STAT`.
    pub const SKIP_STAT: ScanFlags = ScanFlags(2);
    /// Do not copy identity texts served from the identity cache into the arena: the record
    /// has the file's bit in `cached_mask` but not in `read_mask`, and an empty text. For
    /// callers that keep the texts of earlier scans themselves. C:
    /// `PROCURING_SCAN_OMIT_CACHED`.
    pub const OMIT_CACHED: ScanFlags = ScanFlags(4);
    /// Every flag.
    pub const ALL: ScanFlags = ScanFlags(7);

    pub(crate) fn has(self, f: ScanFlags) -> bool {
        self.0 & f.0 != 0
    }
}
