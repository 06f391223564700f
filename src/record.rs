//! The flat, C-layout result of a scan: one [`ProcRecord`] per process plus one byte arena that
//! holds every variable-length text, addressed by [`StrRef`].

use crate::files::{FileSet, ProcFile, FILE_COUNT};

/// A byte range in the snapshot's arena (`procuring_snapshot.arena`; Rust: `Snapshot::bytes`).
/// `len == 0` is an empty string.
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
/// Which parts are valid is given by `read_mask` (bit `1 << PROCURING_FILE_x` set: the file was
/// read and parsed) and `errors[PROCURING_FILE_x]` (non-zero: why that file could not be read);
/// in Rust the index is `ProcFile::X as usize`, or use `ProcRecord::has` and `ProcRecord::error`.
/// A field whose file is not in `read_mask` is zero and must not be used. Field meanings and units follow
/// `proc(5)` and `prometheus/procfs`: times in clock ticks, `rss` in pages, status sizes in bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcRecord {
    /// Process id (the directory name under the proc root).
    pub pid: i32,
    /// Files read and parsed successfully: bit `1 << PROCURING_FILE_x` (Rust: `ProcFile`).
    /// Includes the files served from an earlier read (`cached_mask`) unless the scan was asked
    /// not to copy them (`PROCURING_SCAN_OMIT_CACHED`).
    pub read_mask: u32,
    /// Files whose value came from an earlier read instead of a read this scan: identity files
    /// from the per-lifetime cache, and `stat` of a process that has not run since the last
    /// scan with `procuring_options.reuse_idle_stat` set (Rust: `Options::reuse_idle_stat`).
    /// Same bits as `read_mask`.
    pub cached_mask: u32,
    /// State letter from `stat` (`R`, `S`, `Z`, ...).
    pub state: u8,
    /// Padding, always zero.
    pub _pad: [u8; 3],
    /// Per file, indexed by `PROCURING_FILE_x`: 0 (read, or not requested), an `errno`
    /// (`ENOENT`/`ESRCH`: the process is gone; `EACCES`/`EPERM`: not permitted), or
    /// `PROCURING_FILE_ERR_PARSE` (Rust: `FILE_ERR_PARSE`).
    pub errors: [i32; FILE_COUNT],
    /// Padding, always zero.
    pub _pad2: u32,

    /// Fields of `stat`, valid when `read_mask` has bit `PROCURING_FILE_STAT`.
    pub stat: StatFields,
    /// Fields of `status`, valid when `read_mask` has bit `PROCURING_FILE_STATUS`.
    pub status: StatusFields,
    /// Fields of `io`, valid when `read_mask` has bit `PROCURING_FILE_IO`.
    pub io: IoFields,
    /// Fields of `schedstat`, valid when `read_mask` has bit `PROCURING_FILE_SCHEDSTAT`.
    pub schedstat: SchedstatFields,

    // ---- identity texts, raw bytes exactly as the kernel returned them ----
    /// `comm` file content (including its trailing newline), valid with `PROCURING_FILE_COMM`.
    pub comm: StrRef,
    /// `cmdline` content with its NUL separators (and trailing NUL) kept; empty for kernel
    /// threads and zombies. Valid with `PROCURING_FILE_CMDLINE`.
    pub cmdline: StrRef,
    /// `exe` link target, valid with `PROCURING_FILE_EXE`; for kernel threads and zombies the
    /// link cannot be read (`errors[PROCURING_FILE_EXE]` is `ENOENT`, as procfs) and it is empty.
    pub exe: StrRef,
    /// `cgroup` file content, valid with `PROCURING_FILE_CGROUP`.
    pub cgroup: StrRef,
    /// `environ` content with its NUL separators kept, valid with `PROCURING_FILE_ENVIRON`.
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

/// One process of a flat `stat` walk ([`crate::Scanner::walk_stat_into`], C:
/// `procuring_walk_stat`): what a [`ProcRecord`] has besides its `stat`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatHead {
    /// Process id.
    pub pid: i32,
    /// Files read: the `stat` bit (`1 << PROCURING_FILE_STAT`).
    pub read_mask: u32,
    /// State letter from `stat`.
    pub state: u8,
    /// Padding, always zero.
    pub _pad: [u8; 3],
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
    /// not run (`procuring_options.reuse_idle_stat`; Rust: `Options::reuse_idle_stat`).
    pub stat_reused: u32,
    /// 1 when this scan kept the pid list of the previous scan instead of listing the proc root
    /// again, because the kernel's fork counter showed no process had been created since
    /// (exits are still seen: their reads fail). See `procuring_options.list_every_scan`
    /// (Rust: `Options::list_every_scan`).
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
    /// Parent process id (field 4 of proc(5)).
    pub ppid: i64,
    /// Process group id.
    pub pgrp: i64,
    /// Session id.
    pub session: i64,
    /// Controlling terminal, encoded as the kernel prints it (minor in bits 31-20 and 7-0,
    /// major in bits 15-8); 0 for none.
    pub tty: i64,
    /// Foreground process group of the controlling terminal; -1 for none.
    pub tpgid: i64,
    /// Kernel flags word of the process (`PF_*` of `linux/sched.h`).
    pub flags: u64,
    /// Minor page faults (no disk read needed).
    pub minflt: u64,
    /// Minor page faults of the waited-for children.
    pub cminflt: u64,
    /// Major page faults (a page read from disk).
    pub majflt: u64,
    /// Major page faults of the waited-for children.
    pub cmajflt: u64,
    /// User time in clock ticks.
    pub utime: u64,
    /// System time in clock ticks.
    pub stime: u64,
    /// User time of the waited-for children in clock ticks.
    pub cutime: i64,
    /// System time of the waited-for children in clock ticks.
    pub cstime: i64,
    /// Scheduling priority as the kernel prints it: nice + 20 for normal policies,
    /// -1 - `rt_priority` for real-time ones.
    pub priority: i64,
    /// Nice value, -20 (highest priority) to 19 (lowest).
    pub nice: i64,
    /// Threads in the process.
    pub num_threads: i64,
    /// Start time after boot in clock ticks: with the pid, the identity of the process.
    pub starttime: u64,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident set size in pages.
    pub rss: i64,
    /// Soft limit on the resident set size in bytes (`RLIMIT_RSS`).
    pub rsslim: u64,
    /// Address above which the program text can run.
    pub startcode: u64,
    /// Address below which the program text can run.
    pub endcode: u64,
    /// Address of the start (bottom) of the stack.
    pub startstack: u64,
    /// CPU the process last ran on.
    pub processor: u64,
    /// Real-time priority, 1 to 99 for real-time policies, 0 otherwise.
    pub rt_priority: u64,
    /// Scheduling policy (`SCHED_*` of `linux/sched.h`).
    pub policy: u64,
    /// Time spent waiting for block I/O in clock ticks (delay accounting).
    pub delayacct_blkio_ticks: u64,
    /// Time spent running a virtual CPU of a guest in clock ticks.
    pub guest_time: i64,
    /// Guest time of the waited-for children in clock ticks.
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
    /// Padding, always zero.
    pub _pad: u32,
    /// `Tgid:`: thread group id (the process id).
    pub tgid: i64,
    /// `VmPeak:`: peak virtual memory size.
    pub vm_peak: u64,
    /// `VmSize:`: virtual memory size.
    pub vm_size: u64,
    /// `VmLck:`: locked memory size.
    pub vm_lck: u64,
    /// `VmPin:`: pinned memory size (pages that cannot be moved).
    pub vm_pin: u64,
    /// `VmHWM:`: peak resident set size (high water mark).
    pub vm_hwm: u64,
    /// `VmRSS:`: resident set size (`rss_anon + rss_file + rss_shmem`).
    pub vm_rss: u64,
    /// `RssAnon:`: resident anonymous memory.
    pub rss_anon: u64,
    /// `RssFile:`: resident file mappings.
    pub rss_file: u64,
    /// `RssShmem:`: resident shared memory (shmem, tmpfs, shared anonymous mappings).
    pub rss_shmem: u64,
    /// `VmData:`: size of the data segment.
    pub vm_data: u64,
    /// `VmStk:`: size of the stack.
    pub vm_stk: u64,
    /// `VmExe:`: size of the program text.
    pub vm_exe: u64,
    /// `VmLib:`: size of shared library code.
    pub vm_lib: u64,
    /// `VmPTE:`: size of the page table entries.
    pub vm_pte: u64,
    /// `VmPMD:`: size of the second-level page tables (not printed by newer kernels: 0).
    pub vm_pmd: u64,
    /// `VmSwap:`: swapped-out anonymous memory.
    pub vm_swap: u64,
    /// `HugetlbPages:`: size of hugetlb memory mapped.
    pub hugetlb_pages: u64,
    /// `voluntary_ctxt_switches:`: times the process gave up the CPU (blocked).
    pub voluntary_ctxt_switches: u64,
    /// `nonvoluntary_ctxt_switches:`: times the process was preempted.
    pub nonvoluntary_ctxt_switches: u64,
    /// Real, effective, saved set and filesystem uid.
    pub uids: [u64; 4],
    /// Real, effective, saved set and filesystem gid.
    pub gids: [u64; 4],
    /// `CapInh:`: inheritable capability set (bit n: capability n).
    pub cap_inh: u64,
    /// `CapPrm:`: permitted capability set.
    pub cap_prm: u64,
    /// `CapEff:`: effective capability set.
    pub cap_eff: u64,
    /// `CapBnd:`: capability bounding set.
    pub cap_bnd: u64,
    /// `CapAmb:`: ambient capability set.
    pub cap_amb: u64,
}

/// `/proc/<pid>/io`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoFields {
    /// Bytes read through `read(2)` and similar calls (page cache hits included).
    pub rchar: u64,
    /// Bytes written through `write(2)` and similar calls.
    pub wchar: u64,
    /// Read system calls.
    pub syscr: u64,
    /// Write system calls.
    pub syscw: u64,
    /// Bytes this process caused to be fetched from storage.
    pub read_bytes: u64,
    /// Bytes this process caused to be sent to storage.
    pub write_bytes: u64,
    /// Bytes whose write to storage was cancelled (a truncated dirty page cache).
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
