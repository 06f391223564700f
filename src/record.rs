//! The flat, C-layout result of a scan: one [`ProcRecord`] per process plus one byte arena that
//! holds every variable-length text, addressed by [`StrRef`].

use crate::files::{FileSet, ProcFile, FILE_COUNT};

/// A byte range in the snapshot's arena. `len == 0` is an empty string.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrRef {
    /// Offset of the first byte in the arena.
    pub off: u32,
    /// Length in bytes (no terminating NUL is stored).
    pub len: u32,
}

/// Per-file status code meaning "the file's content did not parse" (positive values are the
/// `errno` the kernel returned, 0 is success or not requested).
pub const FILE_ERR_PARSE: i32 = -1;

/// Everything the scanner read about one process.
///
/// Which parts are valid is given by `read_mask` (bit `1 << ProcFile` set: the file was read and
/// parsed) and `errors[ProcFile]` (non-zero: why that file could not be read). A field whose file
/// is not in `read_mask` is zero and must not be used. Field meanings and units follow
/// `proc(5)` and `prometheus/procfs`: times in clock ticks, `rss` in pages, status sizes in bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcRecord {
    /// Process id (the directory name under the proc root).
    pub pid: i32,
    /// Files read and parsed successfully (`1 << ProcFile`).
    pub read_mask: u32,
    /// Files whose value came from an earlier read instead of a read this scan: identity files
    /// from the per-lifetime cache, and `stat` of a process that has not run since the last
    /// scan under [`crate::Options::reuse_idle_stat`].
    pub cached_mask: u32,
    /// State letter from `stat` (`R`, `S`, `Z`, ...).
    pub state: u8,
    /// Padding, always zero.
    pub _pad: [u8; 3],
    /// Per file: 0, an `errno` (`ENOENT`/`ESRCH` gone, `EACCES`/`EPERM` not permitted), or
    /// [`FILE_ERR_PARSE`].
    pub errors: [i32; FILE_COUNT],
    /// Padding, always zero.
    pub _pad2: u32,

    /// Fields of `stat`, valid when `read_mask` has [`ProcFile::Stat`].
    pub stat: StatFields,
    /// Fields of `status`, valid when `read_mask` has [`ProcFile::Status`].
    pub status: StatusFields,
    /// Fields of `io`, valid when `read_mask` has [`ProcFile::Io`].
    pub io: IoFields,
    /// Fields of `schedstat`, valid when `read_mask` has [`ProcFile::Schedstat`].
    pub schedstat: SchedstatFields,

    // ---- identity texts, raw bytes exactly as the kernel returned them ----
    /// `comm` file content (including its trailing newline).
    pub comm: StrRef,
    /// `cmdline` content with its NUL separators (and trailing NUL) kept.
    pub cmdline: StrRef,
    /// `exe` link target; empty for kernel threads and zombies (`ENOENT`, as procfs).
    pub exe: StrRef,
    /// `cgroup` file content.
    pub cgroup: StrRef,
    /// `environ` content with its NUL separators kept.
    pub environ: StrRef,

    // ---- bpf engine (ABI 4) ----
    /// Total CPU time of the process (all threads, live and exited) in nanoseconds, exact (the
    /// scheduler's `sum_exec_runtime`); valid when `extra_mask` has [`EXTRA_RUNTIME_NS`] (the
    /// `bpf` engine).
    pub runtime_ns: u64,
    /// `stat` fields the engine could not read although `stat` is in `read_mask` (they are
    /// zero): `STAT_UNSET_*` bits. Always 0 with the `sync` and `uring` engines.
    pub stat_unset: u32,
    /// Extra values present in this record: `EXTRA_*` bits.
    pub extra_mask: u32,
}

/// [`ProcRecord::extra_mask`]: `runtime_ns` is valid.
pub const EXTRA_RUNTIME_NS: u32 = 1;
/// [`ProcRecord::stat_unset`]: `startcode`, `endcode`, `startstack` not provided (`/proc`
/// shows them only to a reader allowed to ptrace the process; the `bpf` engine gives them when
/// the scanner has CAP_SYS_PTRACE).
pub const STAT_UNSET_CODE_ADDRS: u32 = 1;

impl ProcRecord {
    /// Whether `file` was read and parsed into this record.
    pub fn has(&self, file: ProcFile) -> bool {
        self.read_mask & (1 << file as u32) != 0
    }
    /// The files read and parsed.
    pub fn read_set(&self) -> FileSet {
        FileSet(self.read_mask)
    }
    /// Why `file` is missing: `None` if it was read or not requested.
    pub fn error(&self, file: ProcFile) -> Option<FileError> {
        FileError::from_code(self.errors[file as usize])
    }
    /// Total CPU time (user + system) in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.stat.utime + self.stat.stime
    }
}

/// Why one file of one process could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileError {
    /// The process is gone (`ENOENT`, `ESRCH`).
    Gone(i32),
    /// Not permitted (`EACCES`, `EPERM`): another user's `environ`, `io`, `exe`.
    Denied(i32),
    /// Any other `errno`.
    Os(i32),
    /// The content did not parse.
    Parse,
}

impl FileError {
    /// From a [`ProcRecord::errors`] code.
    pub fn from_code(code: i32) -> Option<FileError> {
        match code {
            0 => None,
            FILE_ERR_PARSE => Some(FileError::Parse),
            libc::ENOENT | libc::ESRCH => Some(FileError::Gone(code)),
            libc::EACCES | libc::EPERM => Some(FileError::Denied(code)),
            e => Some(FileError::Os(e)),
        }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Parse => f.write_str("unexpected file format"),
            FileError::Gone(e) | FileError::Denied(e) | FileError::Os(e) => {
                write!(f, "{}", std::io::Error::from_raw_os_error(*e))
            }
        }
    }
}

/// Counters of one scan.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Pids listed, given, or kept from the previous scan (`list_reused`).
    pub listed: u32,
    /// Records returned.
    pub returned: u32,
    /// Processes that exited during the scan and were skipped.
    pub vanished: u32,
    /// Pids found reused (a held fd said `ESRCH` but the pid exists again): re-opened.
    pub reused: u32,
    /// Files read with a held descriptor.
    pub held_reads: u32,
    /// Files opened for this scan (not held afterwards, or held from now on).
    pub opened: u32,
    /// Files served from the identity cache.
    pub cached: u32,
    /// Descriptors held after the scan.
    pub held_fds: u32,
    /// Files longer than the first read buffer, re-read in full.
    pub overflows: u32,
    /// `stat` records served from the previous read because `schedstat` showed the process had
    /// not run ([`crate::Options::reuse_idle_stat`]).
    pub stat_reused: u32,
    /// 1 when this scan kept the pid list of the previous scan instead of listing the proc root
    /// again, because the kernel's fork counter showed no process had been created since
    /// (exits are still seen: their reads fail). See [`crate::Options::list_every_scan`].
    pub list_reused: u32,
    /// Reserved (0).
    pub _pad: u32,
    /// Wall time of the scan in nanoseconds.
    pub wall_ns: u64,
}

/// The result of a scan: records in ascending pid order, and the arena their [`StrRef`]s point
/// into. Reused across scans (no allocation once warm).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub(crate) records: Vec<ProcRecord>,
    pub(crate) arena: Vec<u8>,
    pub(crate) stats: ScanStats,
}

impl Snapshot {
    /// The records, ascending by pid.
    pub fn records(&self) -> &[ProcRecord] {
        &self.records
    }
    /// The arena every [`StrRef`] of this snapshot points into.
    pub fn arena(&self) -> &[u8] {
        &self.arena
    }
    /// Bytes of `r` in the arena.
    pub fn bytes(&self, r: StrRef) -> &[u8] {
        &self.arena[r.off as usize..(r.off + r.len) as usize]
    }
    /// Counters of the scan that produced this snapshot.
    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }
    /// The record of `pid`, if present (binary search).
    pub fn get(&self, pid: i32) -> Option<&ProcRecord> {
        self.records.binary_search_by_key(&pid, |r| r.pid).ok().map(|i| &self.records[i])
    }
    /// `comm` without its trailing newline (the `comm` file if read, else the `stat` comm).
    pub fn comm<'a>(&'a self, r: &ProcRecord) -> &'a [u8] {
        if r.has(ProcFile::Comm) {
            let c = self.bytes(r.comm);
            c.strip_suffix(b"\n").unwrap_or(c)
        } else {
            self.bytes(r.stat.comm)
        }
    }
    /// The arguments of `cmdline` (empty for kernel threads and zombies).
    pub fn cmdline_args<'a>(&'a self, r: &ProcRecord) -> impl Iterator<Item = &'a [u8]> {
        crate::parse::nul_split(self.bytes(r.cmdline))
    }
    /// The `KEY=value` entries of `environ`.
    pub fn environ_vars<'a>(&'a self, r: &ProcRecord) -> impl Iterator<Item = &'a [u8]> {
        crate::parse::nul_split(self.bytes(r.environ))
    }
    /// The lines of `cgroup`, parsed.
    pub fn cgroups<'a>(
        &'a self,
        r: &ProcRecord,
    ) -> impl Iterator<Item = Result<crate::parse::cgroup::CgroupLine<'a>, crate::parse::ParseError>>
    {
        crate::parse::cgroup::lines(self.bytes(r.cgroup))
    }
}

/// `/proc/<pid>/stat`, every field `prometheus/procfs`'s `ProcStat` has (types as the kernel
/// prints them: `%d` fields signed, `%u`/`%lu` unsigned).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFields {
    /// `comm` as it appears between the parentheses.
    pub comm: StrRef,
    pub ppid: i64,
    pub pgrp: i64,
    pub session: i64,
    pub tty: i64,
    pub tpgid: i64,
    pub flags: u64,
    pub minflt: u64,
    pub cminflt: u64,
    pub majflt: u64,
    pub cmajflt: u64,
    /// User time in clock ticks.
    pub utime: u64,
    /// System time in clock ticks.
    pub stime: u64,
    pub cutime: i64,
    pub cstime: i64,
    pub priority: i64,
    pub nice: i64,
    pub num_threads: i64,
    /// Start time after boot in clock ticks: with the pid, the identity of the process.
    pub starttime: u64,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident set size in pages.
    pub rss: i64,
    pub rsslim: u64,
    pub startcode: u64,
    pub endcode: u64,
    pub startstack: u64,
    pub processor: u64,
    pub rt_priority: u64,
    pub policy: u64,
    pub delayacct_blkio_ticks: u64,
    pub guest_time: i64,
    pub cguest_time: i64,
}

/// `/proc/<pid>/status`, every field of `prometheus/procfs`'s `ProcStatus`. Sizes are in bytes
/// (the kernel's kB times 1024, as procfs). A key the kernel does not print (kernel threads
/// have no `Vm*`) stays zero, as in procfs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusFields {
    /// `Name:` value, trimmed, escaped as the kernel prints it.
    pub name: StrRef,
    /// `NSpid:` value as text (tab-separated pids).
    pub nspids: StrRef,
    /// `Cpus_allowed_list:` value as text (e.g. `0-3,8`).
    pub cpus_allowed_list: StrRef,
    pub _pad: u32,
    pub tgid: i64,
    pub vm_peak: u64,
    pub vm_size: u64,
    pub vm_lck: u64,
    pub vm_pin: u64,
    pub vm_hwm: u64,
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub rss_shmem: u64,
    pub vm_data: u64,
    pub vm_stk: u64,
    pub vm_exe: u64,
    pub vm_lib: u64,
    pub vm_pte: u64,
    pub vm_pmd: u64,
    pub vm_swap: u64,
    pub hugetlb_pages: u64,
    pub voluntary_ctxt_switches: u64,
    pub nonvoluntary_ctxt_switches: u64,
    /// Real, effective, saved set and filesystem uid.
    pub uids: [u64; 4],
    /// Real, effective, saved set and filesystem gid.
    pub gids: [u64; 4],
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
}

/// `/proc/<pid>/io`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoFields {
    pub rchar: u64,
    pub wchar: u64,
    pub syscr: u64,
    pub syscw: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub cancelled_write_bytes: i64,
}

/// `/proc/<pid>/schedstat` of the process's main thread (`prometheus/procfs`'s `ProcSchedstat`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedstatFields {
    /// Time spent running, in nanoseconds.
    pub run_ns: u64,
    /// Time spent runnable but waiting for a CPU, in nanoseconds.
    pub wait_ns: u64,
    /// Timeslices run (times the thread was switched in).
    pub timeslices: u64,
}
