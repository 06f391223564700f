//! The [`Scanner`]: the scan pipeline. It lists pids (or keeps the last list), pairs them with
//! the per-process table (`table.rs`: held descriptors, the identity cache and the rules of
//! when a remembered value is still valid), queues the reads, drives an engine and parses what
//! it read into a [`Snapshot`].
//!
//! Thread-safety: a `Scanner` is `Send` but not `Sync`; use it from one thread at a time (with
//! `UringOptions::single_issuer`, always from the thread that created it). Separate scanners
//! are independent.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;
use std::time::Instant;

use crate::engine::bpf::{Flat, Records, WalkStats};
use crate::engine::sync::SyncEngine;
use crate::engine::uring::UringEngine;
use crate::engine::{Engine, EngineKind, Req, NO_HANDLE};
use crate::error::Error;
use crate::files::{FileSet, ProcFile};
use crate::forks::ForkWatch;
use crate::options::{Options, ScanFlags};
use crate::parse;
use crate::pids::PidLister;
use crate::record::{
    ProcRecord, ScanStats, SchedstatFields, Snapshot, StatFields, StatHead, StrRef, FILE_ERR_PARSE,
};
use crate::sys;
use crate::table::{budget, slot, Entry, ExecKey, LastStat, Retry};

/// `statfs` magic of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// Longest file the scanner accepts (cmdline/environ are bounded by ARG_MAX far below this).
const MAX_FILE: usize = 64 << 20;
/// The buffer of files longer than their first read is kept between scans up to this size.
const KEEP_BIG: usize = 1 << 20;

/// A reusable `/proc` scanner. See the module docs for thread-safety.
pub struct Scanner {
    opts: Options,
    root: OwnedFd,
    procfs: bool,
    /// Extra open flags: `O_NONBLOCK` under a root that is not procfs.
    open_flags: i32,
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
    /// The one buffer files longer than their first read are re-read into, one at a time.
    big: Vec<u8>,
    retry: Vec<u32>,
    /// Scratch: the retried entries that hold another process than before.
    reused: Vec<u32>,
    snap: Snapshot,
    /// When the running scan started (the clock of the identity cache).
    now: Instant,
    held: u32,
    held_cap: u32,
    /// Process-wide descriptor budget (half the soft RLIMIT_NOFILE).
    budget: u32,
    /// Descriptors this scanner keeps besides held files (proc root, fork-counter files,
    /// io_uring ring), counted in the process-wide budget.
    base_fds: u32,
    /// With `UringOptions::single_issuer`, the thread that created the ring: the only one the
    /// kernel lets submit.
    issuer: Option<std::thread::ThreadId>,
    test_panic: bool,
    /// The loaded BPF walk (engine `bpf`), and its records when merged into a sync scan.
    bpf: Option<crate::engine::bpf::Walker>,
    /// A walk's records (ascending pid) and their comm texts, when a scan of more files than
    /// `stat` takes its pid list and `stat` from the walk (`run`'s `walk_stat`).
    bpf_scratch: Vec<ProcRecord>,
    bpf_arena: Vec<u8>,
    /// Comm texts of the last `walk_stat_into`.
    flat_arena: Vec<u8>,
    /// The first records of the snapshot that hold only what a walk sets (see
    /// `Walker::walk`): 0 after any scan that is not a stat-only walk.
    walk_clean: usize,
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
        if opts.uring.iowq_workers > i32::MAX as u32 {
            return Err(Error::InvalidArgument(format!(
                "uring_iowq_workers is {}, more than INT_MAX",
                opts.uring.iowq_workers
            )));
        }
        let path = CString::new(opts.proc_root.as_os_str().as_bytes())
            .map_err(|_| Error::InvalidArgument("proc_root contains a NUL byte".into()))?;
        let root = sys::open_dir(&path)
            .map_err(|errno| Error::Root { path: opts.proc_root.clone(), errno })?;
        let procfs = sys::fs_magic(&root).is_ok_and(|m| m == PROC_SUPER_MAGIC);
        let open_flags = if procfs { 0 } else { libc::O_NONBLOCK };
        let soft = sys::nofile_soft_limit();
        let limit = budget::limit(soft);
        let held_cap = if !opts.hold_fds {
            0
        } else if opts.max_held_fds == 0 {
            limit
        } else {
            opts.max_held_fds.min(limit)
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
        let (engine, mut engine_kind, mut engine_reason) =
            Self::make_engine(&opts, held_cap, open_flags)?;
        // The mount's hidepid (one read of self/mountinfo): neither the walk nor listing reuse
        // may run where it hides processes.
        let wanted = procfs && (opts.engine == EngineKind::Auto || !opts.list_every_scan);
        let hides = if wanted { crate::forks::hidepid(&root) } else { None };
        // bpf: forced (an error when it cannot load), or auto's first choice on a procfs root
        // (sync, with the reason, when it cannot load).
        let bpf = match opts.engine {
            EngineKind::Bpf => Some(
                crate::engine::bpf::Walker::new(&opts.proc_root).map_err(Error::BpfUnavailable)?,
            ),
            EngineKind::Auto => match Self::auto_bpf(&opts, procfs, hides) {
                Ok(w) => {
                    engine_kind = EngineKind::Bpf;
                    engine_reason = "auto: bpf loaded (stat of every process from one walk of \
                                     the kernel's task list; other files through sync)"
                        .into();
                    Some(w)
                }
                Err(why) => {
                    engine_reason = format!("auto: bpf unavailable ({why}); {engine_reason}");
                    None
                }
            },
            _ => None,
        };
        // The proc root (and a ring) come from the process-wide budget too: a scanner that
        // finds no room for them is refused with EMFILE, as if the open had failed, so the host
        // keeps its half whatever the number of scanners. The fork-counter files are taken
        // only when there is room (without them every scan lists).
        let uring = engine_kind == EngineKind::Uring;
        let issuer = (uring && opts.uring.single_issuer).then(|| std::thread::current().id());
        let mut base_fds = 1 + uring as u32;
        if !budget::reserve(limit, base_fds) {
            return Err(Error::Root { path: opts.proc_root.clone(), errno: libc::EMFILE });
        }
        let watch = if procfs && !opts.list_every_scan && budget::reserve(limit, 2) {
            let w = ForkWatch::open(&root, hides);
            if w.is_some() {
                base_fds += 2;
            } else {
                budget::release(2);
            }
            w
        } else {
            None
        };
        Ok(Scanner {
            opts,
            root,
            procfs,
            open_flags,
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
            big: Vec::new(),
            retry: Vec::new(),
            reused: Vec::new(),
            snap: Snapshot::default(),
            now: Instant::now(),
            held: 0,
            held_cap,
            budget: limit,
            base_fds,
            issuer,
            test_panic: crate::ffi::test_panic_requested(),
            bpf,
            bpf_scratch: Vec::new(),
            bpf_arena: Vec::new(),
            flat_arena: Vec::new(),
            walk_clean: 0,
        })
    }

    /// The walk for `auto`: only on a procfs root whose every process this scanner may see
    /// (no `hidepid`: the walk sees every process whatever the mount hides).
    fn auto_bpf(
        opts: &Options,
        procfs: bool,
        hides: Option<bool>,
    ) -> Result<crate::engine::bpf::Walker, String> {
        if !procfs {
            return Err("the proc root is not a procfs mount".into());
        }
        if hides != Some(false) {
            return Err("the proc root is mounted with hidepid (or its options are unknown): \
                        the walk would show processes it hides"
                .into());
        }
        crate::engine::bpf::Walker::new(&opts.proc_root)
    }

    fn make_engine(
        opts: &Options,
        held_cap: u32,
        open_flags: i32,
    ) -> Result<(Box<dyn Engine>, EngineKind, String), Error> {
        let table = held_cap
            .saturating_add(opts.uring.batch)
            .min(sys::nofile_soft_limit().min(u32::MAX as u64) as u32);
        let uring = || UringEngine::new(opts.uring, table, open_flags);
        let sync = Box::new(SyncEngine { open_flags });
        Ok(match opts.engine {
            EngineKind::Sync => (sync, EngineKind::Sync, "sync requested".into()),
            // The walk is loaded by the caller; files other than stat are read with sync.
            EngineKind::Bpf => (sync, EngineKind::Bpf, "bpf requested".into()),
            EngineKind::Uring => {
                (Box::new(uring().map_err(Error::UringUnavailable)?), EngineKind::Uring, "uring requested".into())
            }
            EngineKind::Auto if AUTO_PREFERS_URING => match uring() {
                Ok(e) => (Box::new(e), EngineKind::Uring, "auto: io_uring available".into()),
                Err(why) => (sync, EngineKind::Sync, format!("{why}; using sync")),
            },
            EngineKind::Auto => (
                sync,
                EngineKind::Sync,
                "sync, measured cheaper than io_uring for procfs (io_uring punts every procfs read to io-wq)".into(),
            ),
        })
    }

    /// The engine that runs (`Uring`, `Sync` or `Bpf`, never `Auto`).
    pub fn engine(&self) -> EngineKind {
        self.engine_kind
    }

    /// Why this engine runs: the rule `auto` applied (bpf, or why bpf could not load), or the
    /// reason io_uring was refused.
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
    /// `hidepid` mount, when `/proc/loadavg` or `/proc/stat` cannot be read, or when the
    /// process-wide descriptor budget has no room for them).
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

    /// Descriptors this scanner keeps besides held files (its proc root, the fork-counter
    /// files, an io_uring ring): with [`Scanner::held_fds`], what it takes from the
    /// process-wide budget.
    pub fn base_fds(&self) -> u32 {
        self.base_fds
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
        self.run(files, flags, false)?;
        self.list_complete = true;
        self.snap.stats.list_reused = reuse as u32;
        Ok(&self.snap)
    }

    /// `stat` of every process from one walk of the `bpf` engine, written into `heads` and
    /// `stats` (index k: the k-th process by ascending pid) instead of the snapshot, which
    /// this leaves as the last scan made it. For a caller that keeps the results in arrays
    /// of its own (the Go package): one write per process, no copy out of the snapshot.
    ///
    /// Returns the number of processes walked; when it is more than the arrays hold
    /// (`min(heads.len(), stats.len())`), the arrays have the first ones only and the caller
    /// walks again with more room. The comms of `stats` are ranges of
    /// [`FlatWalk::arena`], valid until the next call. Other engines: `InvalidArgument`.
    pub fn walk_stat_into(
        &mut self,
        heads: &mut [StatHead],
        stats: &mut [StatFields],
    ) -> Result<FlatWalk<'_>, Error> {
        let t0 = Instant::now();
        let Some(walker) = self.bpf.as_mut() else {
            return Err(Error::InvalidArgument(format!(
                "walk_stat_into needs the bpf engine (this scanner runs {:?})",
                self.engine_kind
            )));
        };
        let room = heads.len().min(stats.len());
        self.flat_arena.clear();
        let mut out = Flat {
            heads: &mut heads[..room],
            stats: &mut stats[..room],
            spill: StatFields::default(),
        };
        let st = walker
            .walk(&self.root, &mut out, &mut self.flat_arena)
            .map_err(Error::BpfUnavailable)?;
        Ok(FlatWalk {
            count: st.returned as usize,
            arena: &self.flat_arena,
            stats: walk_stats(st, t0),
        })
    }

    /// A scan with the `bpf` engine: the pid list and `stat` of every process from one BPF
    /// walk; the other files asked are then read through sync for the walked pids. With the
    /// identity cache, `reuse_idle_stat` or `SKIP_STAT`, whose rules key on `stat`'s text,
    /// a scan of more files lists and reads `stat` through sync, taking only `runtime_ns` from
    /// the walk.
    fn scan_bpf(&mut self, files: FileSet, flags: ScanFlags) -> Result<&Snapshot, Error> {
        let t0 = Instant::now();
        // Identity flags mean nothing to a stat-only scan; SKIP_STAT keeps its sync meaning.
        let skip_stat = flags.has(ScanFlags::SKIP_STAT);
        let stat_only = files.with(ProcFile::Stat) == FileSet::STAT && !skip_stat;
        let walker = self.bpf.as_mut().expect("bpf engine");
        if stat_only {
            self.snap.arena.clear();
            let clean = std::mem::take(&mut self.walk_clean);
            let mut out = Records { out: &mut self.snap.records, clean };
            let st = walker
                .walk(&self.root, &mut out, &mut self.snap.arena)
                .map_err(Error::BpfUnavailable)?;
            self.walk_clean = self.snap.records.len();
            self.snap.stats = walk_stats(st, t0);
            return Ok(&self.snap);
        }
        let mut walked = std::mem::take(&mut self.bpf_scratch);
        let mut arena = std::mem::take(&mut self.bpf_arena);
        arena.clear();
        let clean = walked.len();
        let r = walker
            .walk(&self.root, &mut Records { out: &mut walked, clean }, &mut arena)
            .map_err(Error::BpfUnavailable);
        self.bpf_scratch = walked;
        self.bpf_arena = arena;
        r?;
        self.list_complete = false;
        if !self.opts.identity_cache && !self.opts.reuse_idle_stat && !skip_stat {
            self.pids.clear();
            self.pids.extend(self.bpf_scratch.iter().map(|r| r.pid as u32));
            self.run(files, flags, true)?;
        } else {
            let mut pids = std::mem::take(&mut self.pids);
            let r = self.lister.list(&self.root, &mut pids).map_err(|errno| Error::List { errno });
            self.pids = pids;
            r?;
            self.run(files, flags, false)?;
            let walked = &self.bpf_scratch;
            for r in self.snap.records.iter_mut() {
                if let Ok(k) = walked.binary_search_by_key(&r.pid, |w| w.pid) {
                    r.runtime_ns = walked[k].runtime_ns;
                    r.extra_mask |= walked[k].extra_mask;
                }
            }
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
        self.bpf.as_ref().map(|w| w.load_ns())
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
        if self.bpf.as_ref().is_some_and(|w| w.pays_for(self.pids.len()))
            && files.with(ProcFile::Stat) == FileSet::STAT
            && !flags.has(ScanFlags::SKIP_STAT)
        {
            // bpf: one walk of everything, then only the pids asked for. (A few pids are read
            // through sync below: a walk visits every process.)
            self.scan_bpf(files, flags)?;
            let want = &self.pids;
            self.snap.records.retain(|r| want.binary_search(&(r.pid as u32)).is_ok());
            let found = self.snap.records.len() as u32;
            self.walk_clean = found as usize;
            self.snap.stats.listed = want.len() as u32;
            self.snap.stats.returned = found;
            self.snap.stats.vanished = want.len() as u32 - found;
            return Ok(&self.snap);
        }
        self.run(files, flags, false)
    }

    /// The scan pipeline over `self.pids`. With `walk_stat`, `self.pids` are the walk's
    /// (`bpf_scratch`, same order) and `stat` is taken from it instead of read.
    fn run(
        &mut self,
        files: FileSet,
        flags: ScanFlags,
        walk_stat: bool,
    ) -> Result<&Snapshot, Error> {
        if self.test_panic {
            panic!("test hook: forced panic inside scan");
        }
        if self.issuer.is_some_and(|t| t != std::thread::current().id()) {
            return Err(Error::InvalidArgument(
                "uring_single_issuer: a scan from another thread than the one that created the \
                 scanner (the kernel refuses its submissions)"
                    .into(),
            ));
        }
        let t0 = Instant::now();
        self.now = t0;
        let files = files.with(ProcFile::Stat);
        self.merge();
        self.snap.stats = ScanStats { listed: self.pids.len() as u32, ..Default::default() };
        self.snap.arena.clear();
        self.walk_clean = 0;
        self.snap.records.clear();
        self.snap.records.extend(
            self.entries.iter().map(|e| ProcRecord { pid: e.pid as i32, ..Default::default() }),
        );
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
        // What the identity cache may serve this scan (nothing on a refresh).
        let cache = self.opts.identity_cache.then(|| (t0, self.opts.identity_max_age()));
        let served = if refresh { 0 } else { files.0 & FileSet::IDENTITY.0 };
        let root = self.root.as_raw_fd();
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            e.begin_scan(served, cache);
            if refresh {
                e.denied = 0;
            } else if e.denied != 0 && e.denied_owner != owner_of(root, e.pid) {
                // Credentials changed: what was refused may be allowed now (or refused with
                // another errno).
                e.denied = 0;
            }
            let threads = e.last.as_ref().map(|l| l.stat.num_threads);
            e.defer_stat = gate && threads == Some(1);
            let f = if walk_stat {
                // stat comes from the walk, whose starttime tells a new process under a
                // known pid: its held descriptors are of the old one.
                let st = self.bpf_scratch[i].stat.starttime;
                if e.starttime != 0 && e.starttime != st {
                    e.release(self.engine.as_mut(), &mut self.held);
                    e.forget();
                }
                e.starttime = st;
                files.minus(FileSet::STAT)
            } else if e.defer_stat {
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
        // changed (a new process reuses the pid: start it over with fresh opens), or whose
        // stat shows an exec that makes cached identity values stale (read them now).
        if !self.retry.is_empty() {
            let from = self.reqs.len();
            let retry = std::mem::take(&mut self.retry);
            let mut reused = std::mem::take(&mut self.reused);
            reused.clear();
            for &i in &retry {
                let e = &mut self.entries[i as usize];
                let f = if e.retry == Retry::Process {
                    reused.push(i);
                    self.snap.records[i as usize] =
                        ProcRecord { pid: e.pid as i32, ..Default::default() };
                    files
                } else {
                    // The identity files are read after this scan's stat: it vouches for them.
                    e.roll_key();
                    FileSet(files.0 & e.serve)
                };
                e.serve = 0;
                e.retry = Retry::No;
                e.defer_stat = false;
                Self::queue(
                    &mut self.reqs,
                    i as usize,
                    e,
                    f,
                    hold_all,
                    self.held_cap,
                    self.budget,
                    &mut self.held,
                );
            }
            self.read_and_absorb(from, false)?;
            // Retried pids that still exist are new processes under an old pid.
            self.snap.stats.reused +=
                reused.iter().filter(|&&i| !self.entries[i as usize].vanished).count() as u32;
            self.reused = reused;
            self.retry = retry;
            self.retry.clear();
        }

        if files.contains(ProcFile::Exe) {
            self.read_exes()?;
        }
        self.fill_identity(files, flags.has(ScanFlags::OMIT_CACHED))?;
        if walk_stat {
            self.take_walk_stat()?;
        }
        self.compact();
        if self.big.capacity() > KEEP_BIG {
            self.big = Vec::new();
        }
        let st = &mut self.snap.stats;
        st.returned = self.snap.records.len() as u32;
        st.held_fds = self.held;
        st.wall_ns = t0.elapsed().as_nanos() as u64;
        Ok(&self.snap)
    }

    /// Sets `stat` of every live record from the walk (records whose `stat` a retry read
    /// through sync keep it).
    fn take_walk_stat(&mut self) -> Result<(), Error> {
        let (walked, warena) = (&self.bpf_scratch, &self.bpf_arena);
        for (i, rec) in self.snap.records.iter_mut().enumerate() {
            if self.entries[i].vanished || rec.read_mask & ProcFile::Stat.bit() != 0 {
                continue;
            }
            let w = &walked[i];
            debug_assert_eq!(w.pid, rec.pid);
            let c = w.stat.comm;
            rec.stat = w.stat;
            rec.stat.comm =
                push(&mut self.snap.arena, &warena[c.off as usize..(c.off + c.len) as usize])?;
            rec.state = w.state;
            rec.stat_unset |= w.stat_unset;
            rec.runtime_ns = w.runtime_ns;
            rec.extra_mask |= w.extra_mask;
            rec.read_mask |= ProcFile::Stat.bit();
        }
        Ok(())
    }

    /// Phase A2 of [`Options::reuse_idle_stat`]: for each process whose stat was deferred, the
    /// last stat if schedstat (read through a held handle in phase A) shows it has not run
    /// since, else a fresh read.
    fn reuse_or_read_stat(&mut self, hold_stat: bool) -> Result<(), Error> {
        let from = self.reqs.len();
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            if !e.defer_stat || e.vanished || e.retry != Retry::No {
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
    /// under the cap and the process-wide budget; `stat` only if `hold_stat`), identity files
    /// unless the identity cache serves them this scan. `exe` is read separately.
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
                if e.serve & f.bit() == 0 {
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
                && budget::reserve(budget, 1);
            if keep {
                *held += 1; // reserved; given back if the open fails
            }
            reqs.push(Req::new(i as u32, e.pid, f, h, keep));
        }
    }

    /// Reads `reqs[from..]` chunk by chunk into one small reused buffer and parses each chunk
    /// into the records before the next is read: a buffer that stays in cache costs less than
    /// one slot per request (measured: ~2 us per process at 2,000 processes).
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
            let read =
                self.engine.read(self.root.as_raw_fd(), &mut self.reqs[start..end], &mut self.buf);
            if let Err(f) = read {
                self.fail_batch(start, f.in_flight);
                return Err(Error::Engine(f.why));
            }
            self.absorb_range(start, end, may_retry)?;
            start = end;
        }
        Ok(())
    }

    /// After an engine failure: the budget reserved for descriptors that will never be kept is
    /// given back, and a buffer the kernel may still write is leaked, never reused.
    fn fail_batch(&mut self, start: usize, in_flight: bool) {
        for r in &self.reqs[start..] {
            if r.keep {
                self.held -= 1;
                budget::release(1);
            }
        }
        self.reqs.truncate(start);
        self.list_complete = false;
        if in_flight {
            std::mem::forget(std::mem::take(&mut self.buf));
        }
    }

    /// The `threads` option: the requests are cut into one share per thread, each read into
    /// its own buffer with the sync engine by whichever thread takes it first (the calling
    /// thread included, so a thread that cannot be started only costs wall time); then each
    /// share is parsed here, in order.
    fn read_parallel(&mut self, from: usize, threads: usize, may_retry: bool) -> Result<(), Error> {
        let root = self.root.as_raw_fd();
        let engine = SyncEngine { open_flags: self.open_flags };
        let per = (self.reqs.len() - from).div_ceil(threads);
        self.par_bufs.resize_with(threads, Vec::new);
        let shares: Vec<_> =
            self.reqs[from..].chunks_mut(per).zip(self.par_bufs.iter_mut()).rev().collect();
        let n = shares.len();
        let queue = Mutex::new(shares);
        let work = || loop {
            let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match next {
                Some((part, buf)) => read_share(engine, root, part, buf),
                None => break,
            }
        };
        let mut started = 0u64;
        std::thread::scope(|sc| {
            for _ in 1..n {
                if std::thread::Builder::new().spawn_scoped(sc, work).is_err() {
                    break; // RLIMIT_NPROC, pids.max: the calling thread reads the rest
                }
                started += 1;
            }
            work();
        });
        // Each started thread moved the kernel's fork counter.
        if let Some(w) = self.watch.as_mut() {
            w.own_threads(started);
        }
        let mut bounds: Vec<usize> = (0..n).map(|t| from + t * per).collect();
        bounds.push(self.reqs.len());
        for (t, w) in bounds.windows(2).enumerate() {
            std::mem::swap(&mut self.buf, &mut self.par_bufs[t]);
            let r = self.absorb_range(w[0], w[1], may_retry);
            std::mem::swap(&mut self.buf, &mut self.par_bufs[t]);
            r?;
        }
        Ok(())
    }

    /// Takes in every result of `reqs[start..end]` (already read into `self.buf`).
    fn absorb_range(&mut self, start: usize, end: usize, may_retry: bool) -> Result<(), Error> {
        for k in start..end {
            self.absorb(k, may_retry)?;
        }
        Ok(())
    }

    /// Takes in the result of request `k`. A file longer than its first read is read again in
    /// full into the one `big` buffer first.
    fn absorb(&mut self, k: usize, may_retry: bool) -> Result<(), Error> {
        let mut r = self.reqs[k];
        let i = r.entry as usize;
        let e = &mut self.entries[i];
        if r.keep {
            if r.new_held != NO_HANDLE {
                e.held[slot(r.file)] = r.new_held;
            } else {
                self.held -= 1;
                budget::release(1);
            }
        }
        if r.held != NO_HANDLE {
            self.snap.stats.held_reads += 1;
        } else {
            self.snap.stats.opened += 1;
        }
        if e.vanished || e.retry != Retry::No {
            return Ok(());
        }
        let mut big = false;
        if r.res >= 0 && r.res as u32 >= r.cap {
            self.snap.stats.overflows += 1;
            let root = self.root.as_raw_fd();
            let start = r.cap as usize * 4;
            match read_whole(root, r.pid, r.file, start, self.open_flags, &mut self.big) {
                Ok(n) => {
                    r.res = n as i32;
                    big = true;
                }
                Err(errno) => r.res = -errno,
            }
        }
        let gone = r.res == -libc::ESRCH || r.res == -libc::ENOENT;
        // A held schedstat says ESRCH only when its process is gone; opened by path, ENOENT may
        // also mean a kernel without schedstat: stat decides then.
        let decides =
            r.file == ProcFile::Stat || (r.file == ProcFile::Schedstat && r.held != NO_HANDLE);
        if decides && gone {
            e.release(self.engine.as_mut(), &mut self.held);
            // Forget it: if the pid is listed again, it is a new process.
            e.forget();
            if r.held != NO_HANDLE && may_retry {
                // The held process is gone but the pid was listed: reused, or exiting right now.
                e.retry = Retry::Process;
                self.retry.push(i as u32);
            } else {
                e.vanished = true;
                self.snap.stats.vanished += 1;
            }
            return Ok(());
        }
        let data: Result<&[u8], i32> = if r.res < 0 {
            Err(-r.res)
        } else if big {
            Ok(&self.big[..r.res as usize])
        } else {
            Ok(&self.buf[r.off as usize..(r.off + r.res as u32) as usize])
        };
        let rec = &mut self.snap.records[i];
        let arena = &mut self.snap.arena;
        let bit = r.file.bit();
        if r.file.is_identity() {
            let data = match data {
                Ok(d) if r.file == ProcFile::Cgroup && parse::cgroup::validate(d).is_err() => {
                    Err(FILE_ERR_PARSE)
                }
                d => d,
            };
            if self.opts.identity_cache {
                e.remember(r.file, data, self.now);
            }
            return set_identity(rec, arena, r.file, data);
        }
        let data = match data {
            Ok(d) => d,
            Err(errno) => {
                if errno == libc::EACCES || errno == libc::EPERM {
                    // Not retried every scan: remembered while the process's owner stays.
                    e.denied |= bit;
                    e.denied_errno[slot(r.file)] = errno;
                    e.denied_owner = owner_of(self.root.as_raw_fd(), e.pid);
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
                    if e.starttime != 0 && e.starttime != st {
                        // Same pid, another process (only possible without held descriptors).
                        e.release(self.engine.as_mut(), &mut self.held);
                        e.forget();
                        if may_retry {
                            e.retry = Retry::Process;
                            self.retry.push(i as u32);
                            return Ok(());
                        }
                    }
                    e.starttime = st;
                    if self.opts.identity_cache {
                        let key = ExecKey::new(&rec.stat, comm, parse::stat::exec_marks(data));
                        if e.observe_key(key) {
                            // An exec since the values to be served were read.
                            if may_retry {
                                e.retry = Retry::Identity;
                                self.retry.push(i as u32);
                            } else {
                                e.serve = 0;
                            }
                        }
                    }
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
            _ => unreachable!("identity files are taken in above"),
        };
        if parsed {
            rec.read_mask |= bit;
        } else {
            rec.errors[r.file as usize] = FILE_ERR_PARSE;
        }
        Ok(())
    }

    /// `readlinkat` of `exe` for live entries the identity cache does not serve (no io_uring
    /// opcode exists for it). `ENOENT` (kernel thread, zombie) is an empty path, as procfs.
    fn read_exes(&mut self) -> Result<(), Error> {
        let mut buf = [0u8; 4097];
        let root = self.root.as_raw_fd();
        let bit = ProcFile::Exe.bit();
        for (e, rec) in self.entries.iter_mut().zip(&mut self.snap.records) {
            if e.vanished || e.serve & bit != 0 {
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
            if self.opts.identity_cache {
                e.remember(ProcFile::Exe, res, self.now);
            }
            set_identity(rec, &mut self.snap.arena, ProcFile::Exe, res)?;
        }
        Ok(())
    }

    /// Completes the records: identity files the cache serves this scan copied into the arena
    /// (unless `omit_cached`), and the remembered permission errors of held kinds.
    fn fill_identity(&mut self, files: FileSet, omit_cached: bool) -> Result<(), Error> {
        for (e, rec) in self.entries.iter().zip(self.snap.records.iter_mut()) {
            if e.vanished {
                continue;
            }
            for f in FileSet(files.0 & e.denied).iter() {
                rec.errors[f as usize] = e.denied_errno[slot(f)];
            }
            if e.serve == 0 {
                continue;
            }
            let Some(id) = e.identity() else { continue };
            for f in FileSet(files.0 & e.serve).iter() {
                match id.get(f) {
                    Err(code) => rec.errors[f as usize] = code,
                    Ok(_) if omit_cached => {
                        rec.cached_mask |= f.bit();
                        self.snap.stats.cached += 1;
                    }
                    Ok(text) => {
                        rec.cached_mask |= f.bit();
                        self.snap.stats.cached += 1;
                        set_identity(rec, &mut self.snap.arena, f, Ok(text))?;
                    }
                }
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
            budget::release(self.held);
        }
        budget::release(self.base_fds);
    }
}

/// Owner of `/proc/<pid>` (the process's effective uid and gid, root when not dumpable), the
/// sign that its credentials changed.
fn owner_of(root: RawFd, pid: u32) -> Option<(u32, u32)> {
    let mut path = [0u8; 32];
    let n = ProcFile::Stat.format_path(pid, &mut path);
    // "<pid>/stat\0" cut to "<pid>\0".
    let end = n - "/stat\0".len();
    path[end] = 0;
    sys::owner_at(root, &path[..end + 1]).ok()
}

/// Puts identity file `f`'s text (or error) into the record.
fn set_identity(
    rec: &mut ProcRecord,
    arena: &mut Vec<u8>,
    f: ProcFile,
    res: Result<&[u8], i32>,
) -> Result<(), Error> {
    let text = match res {
        Ok(t) => t,
        Err(code) => {
            rec.errors[f as usize] = code;
            return Ok(());
        }
    };
    let s = push(arena, text)?;
    match f {
        ProcFile::Comm => rec.comm = s,
        ProcFile::Cmdline => rec.cmdline = s,
        ProcFile::Exe => rec.exe = s,
        ProcFile::Cgroup => rec.cgroup = s,
        _ => rec.environ = s,
    }
    rec.read_mask |= f.bit();
    Ok(())
}

/// One share of a parallel scan: lays out `buf` for `reqs` and reads them.
fn read_share(engine: SyncEngine, root: RawFd, reqs: &mut [Req], buf: &mut Vec<u8>) {
    let mut off = 0u32;
    for r in reqs.iter_mut() {
        r.off = off;
        r.cap = r.file.initial_capacity() as u32;
        off += r.cap;
    }
    if buf.len() < off as usize {
        buf.resize(off as usize, 0);
    }
    engine.read_all(root, reqs, buf);
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
/// seq_file's text is one consistent snapshot) into `v`, doubling it from `start` bytes until
/// it is not full; returns the length. `v` is reused from file to file: one long file at a
/// time is in memory besides the arena.
fn read_whole(
    root: RawFd,
    pid: u32,
    file: ProcFile,
    start: usize,
    open_flags: i32,
    v: &mut Vec<u8>,
) -> Result<usize, i32> {
    let mut path = [0u8; 32];
    let n = file.format_path(pid, &mut path);
    let fd = sys::open_at(root, &path[..n], open_flags)?;
    if v.len() < start {
        v.resize(start, 0);
    }
    let r = loop {
        match sys::pread(fd, v, 0) {
            Ok(n) if n < v.len() => break Ok(n),
            Ok(_) if v.len() >= MAX_FILE => break Err(libc::EFBIG),
            Ok(_) => v.resize(v.len() * 2, 0),
            Err(e) => break Err(e),
        }
    };
    sys::close(fd);
    r
}

/// What [`Scanner::walk_stat_into`] returns.
#[derive(Debug)]
pub struct FlatWalk<'a> {
    /// Processes walked (those past the arrays' room were not kept).
    pub count: usize,
    /// The comm texts that the `stat` comms are ranges of.
    pub arena: &'a [u8],
    /// Counters of the walk.
    pub stats: ScanStats,
}

/// A walk's counters as a scan's.
fn walk_stats(st: WalkStats, t0: Instant) -> ScanStats {
    ScanStats {
        listed: st.returned + st.vanished,
        returned: st.returned,
        vanished: st.vanished,
        held_reads: st.reads,
        held_fds: st.held,
        wall_ns: t0.elapsed().as_nanos() as u64,
        ..Default::default()
    }
}
