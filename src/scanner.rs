//! The [`Scanner`]: lists pids, keeps per-process state across scans (held descriptors, the
//! identity cache), drives an engine and turns what it read into a [`Snapshot`].
//!
//! Thread-safety: a `Scanner` is `Send` but not `Sync`; use it from one thread at a time (with
//! [`UringOptions::single_issuer`], always from the thread that created it). Separate scanners
//! are independent.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::engine::sync::SyncEngine;
use crate::engine::uring::{UringEngine, UringOptions};
use crate::engine::{Engine, EngineKind, Handle, Req, NO_HANDLE};
use crate::error::Error;
use crate::files::{FileSet, ProcFile};
use crate::forks::ForkWatch;
use crate::parse;
use crate::pids::PidLister;
use crate::record::{
    ProcRecord, ScanStats, SchedstatFields, Snapshot, StatFields, StrRef, FILE_ERR_PARSE,
};
use crate::sys;

/// Descriptors held by every scanner of this process, against one budget for the process (half
/// the soft RLIMIT_NOFILE), so that two scanners cannot exhaust its descriptors.
static PROCESS_HELD: AtomicU32 = AtomicU32::new(0);

/// Takes one descriptor from the process-wide `budget`.
fn reserve_held(budget: u32) -> bool {
    PROCESS_HELD
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < budget).then_some(n + 1))
        .is_ok()
}

fn unreserve_held() {
    PROCESS_HELD.fetch_sub(1, Ordering::Relaxed);
}

/// `statfs` magic of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// Longest file the scanner accepts (cmdline/environ are bounded by ARG_MAX far below this).
const MAX_FILE: usize = 64 << 20;
/// Held files: those that are not identity files (stat, status, io, schedstat).
const HELD_KINDS: usize = 4;

/// Slot of a held file in [`Entry::held`] and [`Entry::denied_errno`].
fn slot(f: ProcFile) -> usize {
    match f {
        ProcFile::Stat => 0,
        ProcFile::Status => 1,
        ProcFile::Io => 2,
        ProcFile::Schedstat => 3,
        _ => unreachable!("identity files are never held"),
    }
}

/// How a [`Scanner`] reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Root of the proc tree (default `/proc`); a directory of fixture files works too.
    pub proc_root: PathBuf,
    /// Files [`Scanner::scan`] reads (`stat` is always added).
    pub files: FileSet,
    /// Engine to use.
    pub engine: EngineKind,
    /// Keep `stat`/`status`/`io` open across scans and re-read them at offset 0.
    pub hold_fds: bool,
    /// Most descriptors to hold; 0 means half the soft `RLIMIT_NOFILE` at creation (the limit
    /// is never raised). Every scanner of the process also draws on one budget of half the soft
    /// limit, and a `uring` scanner's cap is bounded so its file table fits the limit. Past the
    /// cap, files are opened per scan.
    pub max_held_fds: u32,
    /// io_uring tuning.
    pub uring: UringOptions,
    /// Threads that share the reads of one `sync` scan (1: the calling thread only). More
    /// threads cut wall time, not CPU time (see docs/BENCHMARKS.md); parsing stays on the
    /// calling thread. Ignored by the `uring` engine (io-wq does its fan-out).
    pub threads: u32,
    /// Re-read `stat` only for processes that ran since the last scan. Each scan then reads
    /// `schedstat` (run time, wait time and timeslices of the main thread) of every process
    /// that had one thread at its last `stat`, before its `stat`; one whose `schedstat`, read
    /// through a held descriptor (so a reused pid cannot alias), is unchanged gets the `stat`
    /// fields of its last read, with [`ProcFile::Stat`] set in both `read_mask` and
    /// `cached_mask`. A new process needs two scans before its `stat` can be reused. When the
    /// descriptor cap cannot hold two files per process, `schedstat` is held and `stat` only
    /// for multi-threaded processes.
    ///
    /// Exact under this option: everything that changes only when the process runs: `utime`,
    /// `stime`, `cutime`, `cstime`, fault counters, `num_threads`, `vsize`, `comm`,
    /// `starttime`. May be as old as the process's last run: what other processes or the
    /// kernel change while it sleeps: `state` (a process woken but not yet run), `ppid`
    /// (re-parenting), `tpgid`, `flags`, `priority`/`nice`/`policy`/`rt_priority`
    /// (`renice`), `rss` (reclaim), `rsslim` (`prlimit`), `processor`. Multi-threaded
    /// processes always get a fresh `stat` (`schedstat` covers the main thread only). Off by
    /// default: for collectors that want CPU time (Kepler). A scan of idle processes then costs
    /// 2-4x less CPU (measured in docs/BENCHMARKS.md); one of busy processes costs a
    /// `schedstat` read more per process.
    pub reuse_idle_stat: bool,
    /// List the proc root on every [`Scanner::scan`]. By default (false) a scan keeps the pid
    /// list of the previous one when the kernel's fork counter (`processes` in `/proc/stat`,
    /// checked after a cheaper look at `/proc/loadavg`) shows no process was created since:
    /// every process that exists is then in it, and the ones that exited are dropped because
    /// their reads fail ([`ScanStats::list_reused`] says when). Never done with `hidepid` (a
    /// process changing credentials appears without a fork), on a root that is not procfs,
    /// after [`Scanner::scan_pids`], for [`ScanFlags::SKIP_STAT`] scans, or while some
    /// process's `stat` is refused (it is not re-read, so its exit would go unseen).
    pub list_every_scan: bool,
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
        }
    }
}

/// Flags of one scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanFlags(pub u32);

impl ScanFlags {
    /// No flag.
    pub const NONE: ScanFlags = ScanFlags(0);
    /// Re-read identity files (comm, cmdline, exe, cgroup, environ) even when cached: after a
    /// `prctl(PR_SET_NAME)` or `execve` without a new pid, the cache is stale.
    pub const REFRESH_IDENTITY: ScanFlags = ScanFlags(1);
    /// Do not re-read `stat` of pids whose `starttime` an earlier scan of this scanner saw
    /// (their records have `stat` neither read nor failed); identity caching trusts that
    /// `starttime`. For a second batch over the same listing that only wants other files.
    /// New pids still get `stat` (it keys the identity cache).
    pub const SKIP_STAT: ScanFlags = ScanFlags(2);
    /// Do not copy identity texts served from the cache into the arena: the record has the
    /// file's bit in `cached_mask` but not in `read_mask`, and an empty text. For callers that
    /// keep the texts of earlier scans themselves.
    pub const OMIT_CACHED: ScanFlags = ScanFlags(4);
    /// Every flag.
    pub const ALL: ScanFlags = ScanFlags(7);

    fn has(self, f: ScanFlags) -> bool {
        self.0 & f.0 != 0
    }
}

/// Identity files of one process, read once per (pid, starttime).
#[derive(Debug, Default)]
struct Identity {
    /// The texts; the first `comm_len` bytes are the `stat` comm seen when the identity was
    /// first cached (`u32::MAX`: unknown). A different comm later means an `execve` or a pid
    /// reused within one clock tick: the identity is then read again.
    text: Vec<u8>,
    comm_len: u32,
    /// Per identity file (`ProcFile as usize - 3`): span in `text`, and status code.
    spans: [(u32, u32); 5],
    codes: [i32; 5],
    /// Files present (read or failed for good) as a `FileSet` mask.
    have: u32,
}

impl Identity {
    fn new(stat_comm: Option<&[u8]>) -> Box<Identity> {
        let mut id = Box::<Identity>::default();
        match stat_comm {
            Some(c) => {
                id.text.extend_from_slice(c);
                id.comm_len = c.len() as u32;
            }
            None => id.comm_len = u32::MAX,
        }
        id
    }

    /// Whether the comm this identity was cached under is known and differs from `comm`.
    fn comm_changed(&self, comm: &[u8]) -> bool {
        self.comm_len != u32::MAX && &self.text[..self.comm_len as usize] != comm
    }

    fn store(&mut self, f: ProcFile, data: Result<&[u8], i32>) {
        let k = f as usize - 3;
        match data {
            Ok(d) => {
                self.spans[k] = (self.text.len() as u32, d.len() as u32);
                self.text.extend_from_slice(d);
                self.codes[k] = 0;
            }
            Err(code) => {
                self.spans[k] = (0, 0);
                self.codes[k] = code;
            }
        }
        self.have |= 1 << f as u32;
    }
}

/// What the scanner remembers of one pid between scans.
#[derive(Debug)]
struct Entry {
    pid: u32,
    /// `starttime` seen by the last successful `stat` (0: unknown).
    starttime: u64,
    held: [Handle; HELD_KINDS],
    ident: Option<Box<Identity>>,
    /// Scratch flags of the running scan.
    vanished: bool,
    retry: bool,
    /// Identity files read (not served from the cache) this scan.
    fresh: u32,
    /// Held kinds refused with EACCES/EPERM: not retried until the process changes or a
    /// refresh is asked for; `denied_errno` keeps the kernel's exact errno per kind.
    denied: u32,
    denied_errno: [i32; HELD_KINDS],
    /// [`Options::reuse_idle_stat`]: the last `stat` read, and scratch flags of this scan
    /// (`stat` deferred until `schedstat` is read; `schedstat` read through a held handle).
    last: Option<Box<LastStat>>,
    defer_stat: bool,
    sched_held: bool,
}

/// The last `stat` of a process and the `schedstat` read before it ([`Options::reuse_idle_stat`]).
#[derive(Debug)]
struct LastStat {
    stat: StatFields,
    state: u8,
    comm_len: u8,
    comm: [u8; 64],
    /// `schedstat` read in an earlier phase than `stat` (zero: unknown, never reused).
    sched: SchedstatFields,
}

impl LastStat {
    /// Whether this scan's record (with `schedstat` read through a held handle) shows that the
    /// process has not run since this `stat` was read.
    fn still_valid(&self, rec: &ProcRecord) -> bool {
        self.stat.num_threads == 1
            && self.sched != SchedstatFields::default()
            && rec.has(ProcFile::Schedstat)
            && rec.schedstat == self.sched
    }
}

impl Entry {
    fn new(pid: u32) -> Entry {
        Entry {
            pid,
            starttime: 0,
            held: [NO_HANDLE; HELD_KINDS],
            ident: None,
            vanished: false,
            retry: false,
            fresh: 0,
            denied: 0,
            denied_errno: [0; HELD_KINDS],
            last: None,
            defer_stat: false,
            sched_held: false,
        }
    }

    /// Forgets what was known of the process: the pid is gone or belongs to another process.
    fn forget(&mut self) {
        self.ident = None;
        self.denied = 0;
        self.starttime = 0;
        self.last = None;
    }

    fn cached(&self, f: ProcFile) -> bool {
        self.ident.as_ref().is_some_and(|i| i.have & (1 << f as u32) != 0)
    }

    /// Releases every held handle of this entry.
    fn release(&mut self, engine: &mut dyn Engine, held: &mut u32) {
        for h in self.held.iter_mut().filter(|h| **h != NO_HANDLE) {
            engine.release(*h);
            *h = NO_HANDLE;
            *held -= 1;
            unreserve_held();
        }
    }
}

/// A reusable `/proc` scanner. See the module docs for thread-safety.
pub struct Scanner {
    opts: Options,
    root: OwnedFd,
    procfs: bool,
    engine: Box<dyn Engine>,
    engine_kind: EngineKind,
    engine_reason: String,
    lister: PidLister,
    /// `None` when a listing is needed on every scan (see [`Options::list_every_scan`]).
    watch: Option<ForkWatch>,
    /// `pids` came from a complete listing (or a reuse of one) and the scan over it succeeded.
    list_complete: bool,
    pids: Vec<u32>,
    entries: Vec<Entry>,
    spare: Vec<Entry>,
    reqs: Vec<Req>,
    buf: Vec<u8>,
    par_bufs: Vec<Vec<u8>>,
    overflow: Vec<Vec<u8>>,
    retry: Vec<u32>,
    snap: Snapshot,
    held: u32,
    held_cap: u32,
    /// Process-wide budget of held descriptors (half the soft RLIMIT_NOFILE).
    budget: u32,
    test_panic: bool,
    /// The loaded BPF walk (engine `bpf`), and its records when merged into a sync scan.
    bpf: Option<crate::engine::bpf::Walker>,
    bpf_scratch: Vec<ProcRecord>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("proc_root", &self.opts.proc_root)
            .field("engine", &self.engine_kind)
            .field("held_fds", &self.held)
            .finish_non_exhaustive()
    }
}

/// Whether `auto` picks io_uring. The benches decide: on kernel 6.18 every procfs read through
/// io_uring is punted to an io-wq worker and costs more CPU than `pread` (see README).
const AUTO_PREFERS_URING: bool = false;

impl Scanner {
    /// Opens the proc root and sets up the engine. A forced `uring` that the kernel refuses is
    /// [`Error::UringUnavailable`]; `auto` never fails for that reason.
    pub fn new(opts: Options) -> Result<Scanner, Error> {
        let path = CString::new(opts.proc_root.as_os_str().as_bytes())
            .map_err(|_| Error::InvalidArgument("proc_root contains a NUL byte".into()))?;
        let root = sys::open_dir(&path)
            .map_err(|errno| Error::Root { path: opts.proc_root.clone(), errno })?;
        let procfs = sys::fs_magic(&root).is_ok_and(|m| m == PROC_SUPER_MAGIC);
        let soft = sys::nofile_soft_limit();
        let held_cap = if !opts.hold_fds {
            0
        } else {
            let half = u32::try_from(soft / 2).unwrap_or(u32::MAX);
            if opts.max_held_fds == 0 {
                half
            } else {
                opts.max_held_fds.min(half)
            }
        };
        // The io_uring file table may not exceed RLIMIT_NOFILE either: keep room for a batch.
        let held_cap = if opts.engine == EngineKind::Uring
            || (opts.engine == EngineKind::Auto && AUTO_PREFERS_URING)
        {
            let table = (soft.min(u32::MAX as u64) as u32).max(2);
            held_cap.min(table - opts.uring.batch.clamp(1, table / 2))
        } else {
            held_cap
        };
        let (engine, engine_kind, engine_reason) = Self::make_engine(&opts, held_cap)?;
        let bpf = if engine_kind == EngineKind::Bpf {
            Some(crate::engine::bpf::Walker::new(&opts.proc_root).map_err(Error::BpfUnavailable)?)
        } else {
            None
        };
        let watch = if procfs && !opts.list_every_scan { ForkWatch::open(&root) } else { None };
        Ok(Scanner {
            opts,
            root,
            procfs,
            engine,
            engine_kind,
            engine_reason,
            lister: PidLister::new(),
            watch,
            list_complete: false,
            pids: Vec::new(),
            entries: Vec::new(),
            spare: Vec::new(),
            reqs: Vec::new(),
            buf: Vec::new(),
            par_bufs: Vec::new(),
            overflow: Vec::new(),
            retry: Vec::new(),
            snap: Snapshot::default(),
            held: 0,
            held_cap,
            budget: u32::try_from(soft / 2).unwrap_or(u32::MAX),
            test_panic: std::env::var_os("PROCURING_TEST_PANIC").is_some_and(|v| v == "scan"),
            bpf,
            bpf_scratch: Vec::new(),
        })
    }

    fn make_engine(
        opts: &Options,
        held_cap: u32,
    ) -> Result<(Box<dyn Engine>, EngineKind, String), Error> {
        let table = held_cap
            .saturating_add(opts.uring.batch)
            .min(sys::nofile_soft_limit().min(u32::MAX as u64) as u32);
        let uring = || UringEngine::new(opts.uring, table);
        Ok(match opts.engine {
            EngineKind::Sync => (Box::new(SyncEngine), EngineKind::Sync, "sync requested".into()),
            // The walk is loaded by the caller; files other than stat are read with sync.
            EngineKind::Bpf => (Box::new(SyncEngine), EngineKind::Bpf, "bpf requested".into()),
            EngineKind::Uring => {
                (Box::new(uring().map_err(Error::UringUnavailable)?), EngineKind::Uring, "uring requested".into())
            }
            EngineKind::Auto if AUTO_PREFERS_URING => match uring() {
                Ok(e) => (Box::new(e), EngineKind::Uring, "auto: io_uring available".into()),
                Err(why) => (Box::new(SyncEngine), EngineKind::Sync, format!("{why}; using sync")),
            },
            EngineKind::Auto => (
                Box::new(SyncEngine),
                EngineKind::Sync,
                "auto: sync, measured cheaper than io_uring for procfs (io_uring punts every procfs read to io-wq)".into(),
            ),
        })
    }

    /// The engine that runs (`Uring` or `Sync`, never `Auto`).
    pub fn engine(&self) -> EngineKind {
        self.engine_kind
    }

    /// Why this engine runs: the rule `auto` applied, or the reason io_uring was refused.
    pub fn engine_reason(&self) -> &str {
        &self.engine_reason
    }

    /// Whether the proc root is a procfs mount (false for a fixture directory).
    pub fn is_procfs(&self) -> bool {
        self.procfs
    }

    /// The options this scanner was created with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Whether [`Scanner::scan`] may keep the previous pid list when no process was created
    /// since (false with [`Options::list_every_scan`], on a root that is not procfs, on a
    /// `hidepid` mount, or when `/proc/loadavg` or `/proc/stat` cannot be read).
    pub fn may_reuse_listing(&self) -> bool {
        self.watch.is_some()
    }

    /// Descriptors currently held open across scans.
    pub fn held_fds(&self) -> u32 {
        self.held
    }

    /// The cap on held descriptors.
    pub fn held_fd_cap(&self) -> u32 {
        self.held_cap
    }

    /// The result of the last scan.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// Lists the pids of the proc root (ascending) without reading any file.
    pub fn list_pids(&mut self, out: &mut Vec<u32>) -> Result<(), Error> {
        self.lister.list(&self.root, out).map_err(|errno| Error::List { errno })
    }

    /// Lists every process and reads the files of [`Options::files`].
    pub fn scan(&mut self) -> Result<&Snapshot, Error> {
        self.scan_with(self.opts.files, ScanFlags::NONE)
    }

    /// Lists every process and reads `files` (plus `stat`).
    /// The pid list is the previous scan's when no process was created since (see
    /// [`Options::list_every_scan`]).
    pub fn scan_with(&mut self, files: FileSet, flags: ScanFlags) -> Result<&Snapshot, Error> {
        if self.bpf.is_some() {
            return self.scan_bpf(files, flags);
        }
        // The counter is read before the listing it vouches for, on every scan.
        let quiet = self.watch.as_mut().is_some_and(|w| w.quiet());
        // Reuse needs a read of every process this scan (exits show as failed reads): not with
        // SKIP_STAT; keep_pids checks the rest.
        let reuse =
            quiet && self.list_complete && !flags.has(ScanFlags::SKIP_STAT) && self.keep_pids();
        self.list_complete = false;
        if !reuse {
            let mut pids = std::mem::take(&mut self.pids);
            let r = self.lister.list(&self.root, &mut pids).map_err(|errno| Error::List { errno });
            self.pids = pids;
            r?;
        }
        self.run(files, flags)?;
        self.list_complete = true;
        self.snap.stats.list_reused = reuse as u32;
        Ok(&self.snap)
    }

    /// A scan with the `bpf` engine: `stat` of every process from one BPF walk (the listing too).
    /// Other files are read through the sync path (which then reads `stat` from `/proc` as
    /// well, and takes only `runtime_ns` from the walk): not yet merged into one pass.
    fn scan_bpf(&mut self, files: FileSet, flags: ScanFlags) -> Result<&Snapshot, Error> {
        let t0 = Instant::now();
        // Identity flags mean nothing to a stat-only scan; SKIP_STAT keeps its sync meaning.
        let stat_only =
            files.with(ProcFile::Stat) == FileSet::STAT && !flags.has(ScanFlags::SKIP_STAT);
        if !stat_only {
            let mut pids = std::mem::take(&mut self.pids);
            let r = self.lister.list(&self.root, &mut pids).map_err(|errno| Error::List { errno });
            self.pids = pids;
            r?;
            self.run(files, flags)?;
            self.list_complete = false;
        }
        let walker = self.bpf.as_mut().expect("bpf engine");
        if stat_only {
            self.snap.records.clear();
            self.snap.arena.clear();
            let st = walker
                .walk(&self.root, &mut self.snap.records, &mut self.snap.arena)
                .map_err(Error::BpfUnavailable)?;
            self.snap.stats = ScanStats {
                listed: st.returned + st.vanished,
                returned: st.returned,
                vanished: st.vanished,
                held_reads: st.held,
                held_fds: st.held,
                ..Default::default()
            };
        } else {
            let mut walked = std::mem::take(&mut self.bpf_scratch);
            walked.clear();
            let mut arena = Vec::new();
            walker.walk(&self.root, &mut walked, &mut arena).map_err(Error::BpfUnavailable)?;
            for r in self.snap.records.iter_mut() {
                if let Ok(k) = walked.binary_search_by_key(&r.pid, |w| w.pid) {
                    r.runtime_ns = walked[k].runtime_ns;
                    r.extra_mask |= walked[k].extra_mask;
                }
            }
            self.bpf_scratch = walked;
        }
        self.snap.stats.wall_ns = t0.elapsed().as_nanos() as u64;
        Ok(&self.snap)
    }

    /// Runs the BPF walk alone (no conversion into records): the kernel's share of a `bpf`
    /// scan, for benchmarks. Returns the processes walked; `None` for other engines.
    #[doc(hidden)]
    pub fn bpf_walk_only(&mut self) -> Option<u32> {
        self.bpf.as_mut().and_then(|w| w.walk_only())
    }

    /// Nanoseconds the BPF program took to load (engine `bpf`), else `None`.
    pub fn bpf_load_ns(&self) -> Option<u64> {
        self.bpf.as_ref().map(|w| w.load_ns)
    }

    /// Sets `pids` to the processes of the last scan that are still known to exist, in one pass
    /// over the entries; false (list instead) if some process's `stat` or `schedstat` is
    /// remembered as refused: it is not read again until a refresh, so its exit would go unseen.
    fn keep_pids(&mut self) -> bool {
        let refused = FileSet::STAT.with(ProcFile::Schedstat).0;
        self.pids.clear();
        for e in self.entries.iter().filter(|e| !e.vanished) {
            if e.denied & refused != 0 {
                return false;
            }
            self.pids.push(e.pid);
        }
        true
    }

    /// Reads `files` (plus `stat`) of the given pids only (sorted and deduplicated first if
    /// needed). Pids that do not exist are counted as vanished. State kept for pids not in the
    /// list (held descriptors, cached identity) is dropped.
    pub fn scan_pids(
        &mut self,
        pids: &[i32],
        files: FileSet,
        flags: ScanFlags,
    ) -> Result<&Snapshot, Error> {
        self.list_complete = false;
        if let Some(bad) = pids.iter().find(|&&p| p <= 0) {
            return Err(Error::InvalidArgument(format!("pid {bad} is not positive")));
        }
        self.pids.clear();
        self.pids.extend(pids.iter().map(|&p| p as u32));
        if !self.pids.is_sorted() {
            self.pids.sort_unstable();
        }
        self.pids.dedup();
        if self.bpf.is_some()
            && files.with(ProcFile::Stat) == FileSet::STAT
            && !flags.has(ScanFlags::SKIP_STAT)
        {
            // bpf: one walk of everything, then only the pids asked for.
            self.scan_bpf(files, flags)?;
            let want = &self.pids;
            self.snap.records.retain(|r| want.binary_search(&(r.pid as u32)).is_ok());
            let found = self.snap.records.len() as u32;
            self.snap.stats.listed = want.len() as u32;
            self.snap.stats.returned = found;
            self.snap.stats.vanished = want.len() as u32 - found;
            return Ok(&self.snap);
        }
        self.run(files, flags)
    }

    fn run(&mut self, files: FileSet, flags: ScanFlags) -> Result<&Snapshot, Error> {
        if self.test_panic {
            panic!("PROCURING_TEST_PANIC=scan: forced panic inside scan");
        }
        let t0 = Instant::now();
        let files = files.with(ProcFile::Stat);
        self.merge();
        self.snap.stats = ScanStats { listed: self.pids.len() as u32, ..Default::default() };
        self.snap.arena.clear();
        self.snap.records.clear();
        self.snap.records.extend(
            self.entries.iter().map(|e| ProcRecord { pid: e.pid as i32, ..Default::default() }),
        );
        self.overflow.clear();
        self.reqs.clear();
        let refresh = flags.has(ScanFlags::REFRESH_IDENTITY);
        let skip_stat = flags.has(ScanFlags::SKIP_STAT) && !refresh;
        // reuse_idle_stat: for single-threaded processes with a known stat, phase A reads
        // schedstat (and the other files), phase A2 then reads stat where schedstat changed.
        // Separate phases order the two reads on every engine. When the descriptor cap cannot
        // hold both files of every process, schedstat (read every scan) gets the descriptors
        // and stat is held only for multi-threaded processes (read every scan too).
        let gate = self.opts.reuse_idle_stat && !skip_stat;
        let hold_all = !gate || self.held_cap as usize >= 2 * self.entries.len();
        let identity = FileSet(files.0 & FileSet::IDENTITY.0);
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            e.vanished = false;
            e.retry = false;
            e.fresh = 0;
            e.sched_held = false;
            if refresh {
                e.ident = None;
                e.denied = 0;
            }
            // Identity files read this scan are keyed by this scan's stat comm: no deferring.
            let threads = e.last.as_ref().map(|l| l.stat.num_threads);
            e.defer_stat = gate && threads == Some(1) && identity.iter().all(|f| e.cached(f));
            let f = if e.defer_stat {
                files.minus(FileSet::STAT).with(ProcFile::Schedstat)
            } else if skip_stat && e.starttime != 0 {
                files.minus(FileSet::STAT)
            } else {
                files
            };
            let hold_stat = hold_all || threads.is_some_and(|n| n != 1);
            Self::queue(
                &mut self.reqs,
                i,
                e,
                f,
                hold_stat,
                self.held_cap,
                self.budget,
                &mut self.held,
            );
        }
        self.read_and_absorb(0, true)?;
        if gate {
            self.reuse_or_read_stat(hold_all)?;
        }

        // Phase B: pids whose held descriptors say the process is gone, or whose starttime
        // changed: a new process reuses the pid. Start it over with fresh opens.
        if !self.retry.is_empty() {
            let from = self.reqs.len();
            let retry = std::mem::take(&mut self.retry);
            for &i in &retry {
                let e = &mut self.entries[i as usize];
                self.snap.records[i as usize] =
                    ProcRecord { pid: e.pid as i32, ..Default::default() };
                e.fresh = 0;
                e.retry = false;
                e.defer_stat = false;
                Self::queue(
                    &mut self.reqs,
                    i as usize,
                    e,
                    files,
                    hold_all,
                    self.held_cap,
                    self.budget,
                    &mut self.held,
                );
            }
            self.read_and_absorb(from, false)?;
            // Retried pids that still exist are new processes under an old pid.
            self.snap.stats.reused +=
                retry.iter().filter(|&&i| !self.entries[i as usize].vanished).count() as u32;
            self.retry = retry;
            self.retry.clear();
        }

        if files.contains(ProcFile::Exe) {
            self.read_exes();
        }
        self.fill_identity(files, flags.has(ScanFlags::OMIT_CACHED))?;
        self.compact();
        let st = &mut self.snap.stats;
        st.returned = self.snap.records.len() as u32;
        st.held_fds = self.held;
        st.wall_ns = t0.elapsed().as_nanos() as u64;
        Ok(&self.snap)
    }

    /// Phase A2 of [`Options::reuse_idle_stat`]: for each process whose stat was deferred, the
    /// last stat if schedstat (read through a held handle in phase A) shows it has not run
    /// since, else a fresh read.
    fn reuse_or_read_stat(&mut self, hold_stat: bool) -> Result<(), Error> {
        let from = self.reqs.len();
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            if !e.defer_stat || e.vanished || e.retry {
                continue;
            }
            let rec = &mut self.snap.records[i];
            if let Some(last) = e.last.as_ref().filter(|l| e.sched_held && l.still_valid(rec)) {
                rec.stat = last.stat;
                rec.stat.comm = push(&mut self.snap.arena, &last.comm[..last.comm_len as usize])?;
                rec.state = last.state;
                rec.read_mask |= ProcFile::Stat.bit();
                rec.cached_mask |= ProcFile::Stat.bit();
                self.snap.stats.stat_reused += 1;
                continue;
            }
            Self::queue(
                &mut self.reqs,
                i,
                e,
                FileSet::STAT,
                hold_stat,
                self.held_cap,
                self.budget,
                &mut self.held,
            );
        }
        self.read_and_absorb(from, true)
    }

    /// Pairs the sorted pid list with the entries of the previous scan (a linear merge): kept
    /// pids keep their state, new pids get a fresh entry, pids gone release their descriptors.
    fn merge(&mut self) {
        let mut old = std::mem::replace(&mut self.entries, std::mem::take(&mut self.spare));
        self.entries.reserve(self.pids.len());
        let mut it = old.drain(..).peekable();
        for &pid in &self.pids {
            while let Some(e) = it.next_if(|e| e.pid < pid) {
                let mut e = e;
                e.release(self.engine.as_mut(), &mut self.held);
            }
            match it.next_if(|e| e.pid == pid) {
                Some(e) => self.entries.push(e),
                None => self.entries.push(Entry::new(pid)),
            }
        }
        for mut e in it {
            e.release(self.engine.as_mut(), &mut self.held);
        }
        self.spare = old;
    }

    /// Queues the reads of entry `i`: held files through their handle (or opened and kept while
    /// under the cap; `stat` only if `hold_stat`), identity files only when not cached. `exe` is
    /// read separately.
    #[allow(clippy::too_many_arguments)]
    fn queue(
        reqs: &mut Vec<Req>,
        i: usize,
        e: &Entry,
        files: FileSet,
        hold_stat: bool,
        cap: u32,
        budget: u32,
        held: &mut u32,
    ) {
        for f in files.iter() {
            if f == ProcFile::Exe {
                continue;
            }
            if f.is_identity() {
                if !e.cached(f) {
                    reqs.push(Req::new(i as u32, e.pid, f, NO_HANDLE, false));
                }
                continue;
            }
            if e.denied & f.bit() != 0 {
                continue;
            }
            let h = e.held[slot(f)];
            let keep = h == NO_HANDLE
                && (hold_stat || f != ProcFile::Stat)
                && *held < cap
                && reserve_held(budget);
            if keep {
                *held += 1; // reserved; given back if the open fails
            }
            reqs.push(Req::new(i as u32, e.pid, f, h, keep));
        }
    }

    /// Reads `reqs[from..]` chunk by chunk into one small reused buffer, re-reads overflowing
    /// files, and parses each chunk into the records before the next is read: a buffer that
    /// stays in cache costs less than one slot per request (measured: ~2 us per process at
    /// 2,000 processes).
    fn read_and_absorb(&mut self, from: usize, may_retry: bool) -> Result<(), Error> {
        let threads = self.opts.threads.max(1) as usize;
        if threads > 1
            && self.engine_kind == EngineKind::Sync
            && self.reqs.len() - from >= 64 * threads
        {
            return self.read_parallel(from, threads, may_retry);
        }
        let chunk = self.engine.chunk().max(1);
        let mut start = from;
        while start < self.reqs.len() {
            let end = (start + chunk).min(self.reqs.len());
            let mut off = 0u32;
            for r in &mut self.reqs[start..end] {
                r.off = off;
                r.cap = r.file.initial_capacity() as u32;
                off += r.cap;
            }
            if self.buf.len() < off as usize {
                self.buf.resize(off as usize, 0);
            }
            self.engine.read(self.root.as_raw_fd(), &mut self.reqs[start..end], &mut self.buf);
            self.absorb_range(start, end, may_retry)?;
            start = end;
        }
        Ok(())
    }

    /// The `threads` option: each thread reads a contiguous share of the requests into its own
    /// buffer with the sync engine; then each share is parsed here, in order.
    fn read_parallel(&mut self, from: usize, threads: usize, may_retry: bool) -> Result<(), Error> {
        let root = self.root.as_raw_fd();
        let per = (self.reqs.len() - from).div_ceil(threads);
        self.par_bufs.resize_with(threads, Vec::new);
        let mut bounds = Vec::with_capacity(threads);
        std::thread::scope(|sc| {
            let mut parts = self.reqs[from..].chunks_mut(per).zip(self.par_bufs.iter_mut());
            let first = parts.next();
            for (k, (part, buf)) in parts.enumerate() {
                bounds.push(from + (k + 1) * per);
                sc.spawn(move || read_share(root, part, buf));
            }
            if let Some((part, buf)) = first {
                read_share(root, part, buf);
            }
        });
        // Each started thread moved the kernel's fork counter (a failed spawn panics first).
        if let Some(w) = self.watch.as_mut() {
            w.own_threads(bounds.len() as u64);
        }
        bounds.insert(0, from);
        bounds.push(self.reqs.len());
        for (t, w) in bounds.windows(2).enumerate() {
            std::mem::swap(&mut self.buf, &mut self.par_bufs[t]);
            let r = self.absorb_range(w[0], w[1], may_retry);
            std::mem::swap(&mut self.buf, &mut self.par_bufs[t]);
            r?;
        }
        Ok(())
    }

    /// Re-reads overflowing files of `reqs[start..end]` (already read into `self.buf`) and
    /// takes in every result.
    fn absorb_range(&mut self, start: usize, end: usize, may_retry: bool) -> Result<(), Error> {
        let root = self.root.as_raw_fd();
        for r in &mut self.reqs[start..end] {
            if r.res >= 0 && r.res as u32 >= r.cap {
                self.snap.stats.overflows += 1;
                match read_whole(root, r.pid, r.file, r.cap as usize * 4) {
                    Ok(v) => {
                        r.ov = self.overflow.len() as u32;
                        r.res = v.len() as i32;
                        self.overflow.push(v);
                    }
                    Err(errno) => r.res = -errno,
                }
            }
        }
        for k in start..end {
            self.absorb(k, may_retry)?;
        }
        Ok(())
    }

    /// Takes in the result of request `k`.
    fn absorb(&mut self, k: usize, may_retry: bool) -> Result<(), Error> {
        let r = self.reqs[k];
        let i = r.entry as usize;
        let e = &mut self.entries[i];
        if r.keep {
            if r.new_held != NO_HANDLE {
                e.held[slot(r.file)] = r.new_held;
            } else {
                self.held -= 1;
                unreserve_held();
            }
        }
        if r.held != NO_HANDLE {
            self.snap.stats.held_reads += 1;
        } else {
            self.snap.stats.opened += 1;
        }
        if e.vanished || e.retry {
            return Ok(());
        }
        let gone = r.res == -libc::ESRCH || r.res == -libc::ENOENT;
        // A held schedstat says ESRCH only when its process is gone; opened by path, ENOENT may
        // also mean a kernel without schedstat: stat decides then.
        let decides =
            r.file == ProcFile::Stat || (r.file == ProcFile::Schedstat && r.held != NO_HANDLE);
        if decides && gone {
            if r.held != NO_HANDLE && may_retry {
                // The held process is gone but the pid was listed: reused, or exiting right now.
                e.release(self.engine.as_mut(), &mut self.held);
                e.forget();
                e.retry = true;
                self.retry.push(i as u32);
            } else {
                e.release(self.engine.as_mut(), &mut self.held);
                e.vanished = true;
                // Forget it: if the pid is listed again, it is a new process.
                e.forget();
                self.snap.stats.vanished += 1;
            }
            return Ok(());
        }
        let data: Result<&[u8], i32> = if r.res < 0 {
            Err(-r.res)
        } else if r.ov != NO_HANDLE {
            Ok(&self.overflow[r.ov as usize])
        } else {
            Ok(&self.buf[r.off as usize..(r.off + r.res as u32) as usize])
        };
        let rec = &mut self.snap.records[i];
        let arena = &mut self.snap.arena;
        let bit = 1u32 << r.file as u32;
        let data = match data {
            Ok(d) => d,
            Err(errno) => {
                if r.file.is_identity() {
                    e.fresh |= bit;
                    // Cached like content (a live kernel thread's environ is ESRCH): if the process
                    // is really gone, the next scan's stat drops the entry.
                    let c = stat_comm(rec, arena);
                    e.ident.get_or_insert_with(|| Identity::new(c)).store(r.file, Err(errno));
                } else if errno == libc::EACCES || errno == libc::EPERM {
                    // Not retried every scan: permission is remembered for the process lifetime.
                    e.denied |= bit;
                    e.denied_errno[slot(r.file)] = errno;
                }
                rec.errors[r.file as usize] = errno;
                return Ok(());
            }
        };
        let parsed = match r.file {
            ProcFile::Stat => match parse::stat::parse_with_state(data, &mut rec.stat) {
                Ok((comm, state)) => {
                    rec.stat.comm = push(arena, comm)?;
                    rec.state = state;
                    let st = rec.stat.starttime;
                    let renamed = e.ident.as_ref().is_some_and(|id| id.comm_changed(comm));
                    if (renamed || (e.starttime != 0 && e.starttime != st)) && may_retry {
                        // Same pid, another process (a new starttime: only possible without held
                        // descriptors), or the same process after execve (new comm).
                        e.release(self.engine.as_mut(), &mut self.held);
                        e.forget();
                        e.retry = true;
                        self.retry.push(i as u32);
                        return Ok(());
                    }
                    if e.starttime != st || renamed {
                        e.ident = None;
                        e.denied = 0;
                    }
                    e.starttime = st;
                    if self.opts.reuse_idle_stat {
                        remember_stat(e, rec, comm);
                    }
                    true
                }
                Err(_) => false,
            },
            ProcFile::Status => match parse::status::parse(data, &mut rec.status) {
                Ok(_) if rec.status.tgid == 0 => {
                    // A task reaped while its status was generated prints Tgid 0: it is gone.
                    e.release(self.engine.as_mut(), &mut self.held);
                    e.vanished = true;
                    e.forget();
                    self.snap.stats.vanished += 1;
                    return Ok(());
                }
                Ok(t) => {
                    rec.status.name = push(arena, t.name)?;
                    rec.status.nspids = push(arena, t.nspids)?;
                    rec.status.cpus_allowed_list = push(arena, t.cpus_allowed_list)?;
                    true
                }
                Err(_) => false,
            },
            ProcFile::Io => parse::io::parse(data, &mut rec.io).is_ok(),
            ProcFile::Schedstat => {
                let ok = parse::schedstat::parse(data, &mut rec.schedstat).is_ok();
                e.sched_held = ok && r.held != NO_HANDLE;
                ok
            }
            ProcFile::Cgroup
            | ProcFile::Comm
            | ProcFile::Cmdline
            | ProcFile::Environ
            | ProcFile::Exe => {
                let ok = r.file != ProcFile::Cgroup || parse::cgroup::validate(data).is_ok();
                let c = stat_comm(rec, arena);
                let id = e.ident.get_or_insert_with(|| Identity::new(c));
                id.store(r.file, if ok { Ok(data) } else { Err(FILE_ERR_PARSE) });
                e.fresh |= bit;
                return Ok(()); // copied to the arena by fill_identity
            }
        };
        if parsed {
            rec.read_mask |= bit;
        } else {
            rec.errors[r.file as usize] = FILE_ERR_PARSE;
        }
        Ok(())
    }

    /// `readlinkat` of `exe` for live entries that do not have it cached (no io_uring opcode
    /// exists for it). `ENOENT` (kernel thread, zombie) is an empty path, as procfs.
    fn read_exes(&mut self) {
        let mut buf = [0u8; 4097];
        let root = self.root.as_raw_fd();
        for (e, rec) in self.entries.iter_mut().zip(&self.snap.records) {
            if e.vanished || e.cached(ProcFile::Exe) {
                continue;
            }
            let mut path = [0u8; 32];
            let n = ProcFile::Exe.format_path(e.pid, &mut path);
            let res = match sys::readlink_at(root, &path[..n], &mut buf) {
                Ok(len) => Ok(&buf[..len]),
                Err(libc::ENOENT) => Ok(&buf[..0]),
                Err(errno) => Err(errno),
            };
            self.snap.stats.opened += 1;
            if res == Err(libc::ESRCH) {
                continue; // exiting; not cached, reported by fill_identity as missing
            }
            let arena = &self.snap.arena;
            let c = stat_comm(rec, arena);
            e.ident.get_or_insert_with(|| Identity::new(c)).store(ProcFile::Exe, res);
            e.fresh |= ProcFile::Exe.bit();
        }
    }

    /// Completes the records: identity files of `files` copied from each entry's cache into the
    /// arena, and the remembered permission errors of held kinds.
    fn fill_identity(&mut self, files: FileSet, omit_cached: bool) -> Result<(), Error> {
        let idfiles = FileSet(files.0 & FileSet::IDENTITY.0);
        for (e, rec) in self.entries.iter().zip(self.snap.records.iter_mut()) {
            if e.vanished {
                continue;
            }
            for f in FileSet(files.0 & e.denied).iter() {
                rec.errors[f as usize] = e.denied_errno[slot(f)];
            }
            for f in idfiles.iter() {
                let Some(id) = e.ident.as_ref().filter(|id| id.have & f.bit() != 0) else {
                    if rec.errors[f as usize] == 0 {
                        rec.errors[f as usize] = libc::ESRCH;
                    }
                    continue;
                };
                let k = f as usize - 3;
                if id.codes[k] != 0 {
                    rec.errors[f as usize] = id.codes[k];
                    continue;
                }
                let cached = e.fresh & f.bit() == 0;
                if cached {
                    rec.cached_mask |= f.bit();
                    self.snap.stats.cached += 1;
                    if omit_cached {
                        continue;
                    }
                }
                let (o, l) = id.spans[k];
                let s = push(&mut self.snap.arena, &id.text[o as usize..(o + l) as usize])?;
                match f {
                    ProcFile::Comm => rec.comm = s,
                    ProcFile::Cmdline => rec.cmdline = s,
                    ProcFile::Exe => rec.exe = s,
                    ProcFile::Cgroup => rec.cgroup = s,
                    _ => rec.environ = s,
                }
                rec.read_mask |= f.bit();
            }
        }
        Ok(())
    }

    /// Drops the records of vanished processes, keeping pid order.
    fn compact(&mut self) {
        let mut w = 0;
        for i in 0..self.entries.len() {
            if !self.entries[i].vanished {
                self.snap.records.swap(w, i);
                w += 1;
            }
        }
        self.snap.records.truncate(w);
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        if self.engine.release_on_drop() {
            for e in &mut self.entries {
                e.release(self.engine.as_mut(), &mut self.held);
            }
        } else {
            // Dropping the engine closes them all at once: give their budget back here.
            PROCESS_HELD.fetch_sub(self.held, Ordering::Relaxed);
        }
    }
}

/// One thread's share of a parallel scan: lays out `buf` for `reqs` and reads them.
fn read_share(root: RawFd, reqs: &mut [Req], buf: &mut Vec<u8>) {
    let mut off = 0u32;
    for r in reqs.iter_mut() {
        r.off = off;
        r.cap = r.file.initial_capacity() as u32;
        off += r.cap;
    }
    if buf.len() < off as usize {
        buf.resize(off as usize, 0);
    }
    SyncEngine.read(root, reqs, buf);
}

/// Keeps the `stat` just parsed into `rec` for [`Options::reuse_idle_stat`], with the
/// `schedstat` read before it in this scan (only when stat was deferred: read afterwards).
fn remember_stat(e: &mut Entry, rec: &ProcRecord, comm: &[u8]) {
    if comm.len() > 64 {
        e.last = None;
        return;
    }
    // A schedstat read by path is as good as a held one here: stat, read after it in this scan,
    // checks starttime; a later reuse needs the schedstat it compares read through a held fd.
    let sched = if e.defer_stat && rec.has(ProcFile::Schedstat) {
        rec.schedstat
    } else {
        SchedstatFields::default()
    };
    let last = e.last.get_or_insert_with(|| {
        Box::new(LastStat {
            stat: StatFields::default(),
            state: 0,
            comm_len: 0,
            comm: [0; 64],
            sched,
        })
    });
    last.stat = rec.stat;
    last.state = rec.state;
    last.comm[..comm.len()].copy_from_slice(comm);
    last.comm_len = comm.len() as u8;
    last.sched = sched;
}

/// This scan's `stat` comm of `rec` (what a cached identity is keyed by), if stat was read.
fn stat_comm<'a>(rec: &ProcRecord, arena: &'a [u8]) -> Option<&'a [u8]> {
    rec.has(ProcFile::Stat)
        .then(|| &arena[rec.stat.comm.off as usize..][..rec.stat.comm.len as usize])
}

/// Appends `bytes` to the arena.
fn push(arena: &mut Vec<u8>, bytes: &[u8]) -> Result<StrRef, Error> {
    let off = arena.len();
    if off + bytes.len() > u32::MAX as usize {
        return Err(Error::ArenaFull);
    }
    arena.extend_from_slice(bytes);
    Ok(StrRef { off: off as u32, len: bytes.len() as u32 })
}

/// Reads a file longer than its first buffer in one `pread` at offset 0 (one read, so a
/// seq_file's text is one consistent snapshot), doubling the buffer until it is not full.
fn read_whole(root: RawFd, pid: u32, file: ProcFile, start: usize) -> Result<Vec<u8>, i32> {
    let mut path = [0u8; 32];
    let n = file.format_path(pid, &mut path);
    let fd = sys::open_at(root, &path[..n])?;
    let mut v = vec![0u8; start];
    let r = loop {
        match sys::pread(fd, &mut v, 0) {
            Ok(n) if n < v.len() => {
                v.truncate(n);
                break Ok(v);
            }
            Ok(_) if v.len() >= MAX_FILE => break Err(libc::EFBIG),
            Ok(_) => v.resize(v.len() * 2, 0),
            Err(e) => break Err(e),
        }
    };
    sys::close(fd);
    r
}
