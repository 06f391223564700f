//! The per-process table: what a scanner remembers of each pid between scans, and the rules
//! that decide when something remembered may still be used. Everything the scanner keeps
//! across scans lives here:
//!
//! - held descriptors (`Entry::held`), drawn from one process-wide descriptor budget;
//! - the identity cache (`Identity`), only with `Options::identity_cache`;
//! - permission refusals of held files (`Entry::denied`);
//! - the last `stat` for `Options::reuse_idle_stat` (`LastStat`).
//!
//! When is a cached value still valid? Exactly when the rules of this module say so:
//!
//! 1. A held descriptor is valid until a read through it fails with `ESRCH`/`ENOENT` (the
//!    process is gone; its pid may be reused): the entry is then forgotten and read afresh.
//! 2. An identity value is served only if (`Identity::serves`) the identity cache is on, the
//!    value was read after a `stat` of an earlier scan whose `ExecKey` equals the entry's last
//!    key, and it is younger than the age limit. When a scan's `stat` shows a different
//!    `ExecKey` (another starttime, comm, or exec address), every cached value of the entry is
//!    dropped and read again in the same scan (`Entry::observe_key`).
//! 3. Only a success, or an answer that cannot change while the process lives, is cached
//!    (`cacheable`): never `EMFILE`, `ENFILE`, `ENOMEM`, `EAGAIN`, `EINTR` or any other error
//!    than `ENOENT`/`ESRCH`, and never an empty `cmdline` of a process that is not a kernel
//!    thread (read inside its `execve`, before the kernel set its arguments).
//! 4. A refusal (`EACCES`/`EPERM`) of a held file is remembered while the owner of
//!    `/proc/<pid>` (the process's effective uid and gid, or root for a non-dumpable one) stays
//!    the same, and forgotten with the process (`Entry::forget`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::engine::{Engine, Handle, NO_HANDLE};
use crate::files::ProcFile;
use crate::record::{ProcRecord, SchedstatFields, StatFields};

/// Held files: those that are not identity files (stat, status, io, schedstat).
pub(crate) const HELD_KINDS: usize = 4;

/// Slot of a held file in `Entry::held` and `Entry::denied_errno`.
pub(crate) fn slot(f: ProcFile) -> usize {
    match f {
        ProcFile::Stat => 0,
        ProcFile::Status => 1,
        ProcFile::Io => 2,
        ProcFile::Schedstat => 3,
        _ => unreachable!("identity files are never held"),
    }
}

/// Index of an identity file in `Identity`'s arrays.
fn ident_index(f: ProcFile) -> usize {
    f as usize - ProcFile::Comm as usize
}

/// The process-wide descriptor budget: every descriptor kept by every scanner of this process
/// (held files, proc roots, fork-counter files, io_uring rings) counts against one limit, half
/// the soft `RLIMIT_NOFILE`, so that the host program always keeps the other half (a scanner
/// with no room for its proc root is refused with `EMFILE`).
pub(crate) mod budget {
    use super::*;

    static KEPT: AtomicU32 = AtomicU32::new(0);

    /// The process-wide limit for a soft `RLIMIT_NOFILE` of `soft`: half of it.
    pub(crate) fn limit(soft: u64) -> u32 {
        u32::try_from(soft / 2).unwrap_or(u32::MAX)
    }

    /// Takes `n` descriptors if the total stays within `limit`.
    pub(crate) fn reserve(limit: u32, n: u32) -> bool {
        KEPT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| {
            k.checked_add(n).filter(|&t| t <= limit)
        })
        .is_ok()
    }

    /// Gives back `n` descriptors.
    pub(crate) fn release(n: u32) {
        KEPT.fetch_sub(n, Ordering::Relaxed);
    }

    /// Descriptors kept by every scanner of this process.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn kept() -> u32 {
        KEPT.load(Ordering::Relaxed)
    }
}

/// `PF_KTHREAD` in `stat`'s flags.
const PF_KTHREAD: u64 = 0x0020_0000;

/// What `stat` shows of the program a process runs; every `execve` changes some of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExecKey {
    starttime: u64,
    /// startcode, endcode, startstack, arg_start, arg_end, env_start (0 or 1 to a reader not
    /// allowed to ptrace the process: then only the comm tells an exec).
    marks: [u64; 6],
    comm_len: u8,
    comm: [u8; 64],
    kthread: bool,
}

impl ExecKey {
    /// The key of a `stat` just parsed into `st` with this comm and the exec marks
    /// `[arg_start, arg_end, env_start]` (`None`: the kernel does not show them). `None` for
    /// a comm longer than 64 bytes (never cached).
    pub(crate) fn new(st: &StatFields, comm: &[u8], args: Option<[u64; 3]>) -> Option<ExecKey> {
        if comm.len() > 64 {
            return None;
        }
        let a = args.unwrap_or_default();
        let mut k = ExecKey {
            starttime: st.starttime,
            marks: [st.startcode, st.endcode, st.startstack, a[0], a[1], a[2]],
            comm_len: comm.len() as u8,
            comm: [0; 64],
            kthread: st.flags & PF_KTHREAD != 0,
        };
        k.comm[..comm.len()].copy_from_slice(comm);
        Some(k)
    }
}

/// Whether a read of identity file `f` with this result may be cached for a process with key
/// `key` (rule 3).
pub(crate) fn cacheable(f: ProcFile, res: Result<&[u8], i32>, key: &ExecKey) -> bool {
    match res {
        Ok(d) => !(f == ProcFile::Cmdline && d.is_empty() && !key.kthread),
        Err(e) => e == libc::ENOENT || e == libc::ESRCH,
    }
}

/// Cached identity files of one process, read after a `stat` that showed `key`.
#[derive(Debug)]
pub(crate) struct Identity {
    key: ExecKey,
    text: Vec<u8>,
    /// Per identity file: span in `text`, status code (0 or an errno), time read.
    spans: [(u32, u32); 5],
    codes: [i32; 5],
    at: [Option<Instant>; 5],
}

impl Identity {
    fn new(key: ExecKey) -> Identity {
        Identity { key, text: Vec::new(), spans: [(0, 0); 5], codes: [0; 5], at: [None; 5] }
    }

    /// Whether file `f` may be served to a scan at `now` of a process whose last `stat`
    /// showed `key` (rule 2).
    pub(crate) fn serves(&self, f: ProcFile, key: &ExecKey, now: Instant, max_age_ms: u32) -> bool {
        self.key == *key
            && self.at[ident_index(f)]
                .is_some_and(|t| now.saturating_duration_since(t).as_millis() < max_age_ms as u128)
    }

    /// The cached answer for `f`: its text or its errno.
    pub(crate) fn get(&self, f: ProcFile) -> Result<&[u8], i32> {
        let k = ident_index(f);
        if self.codes[k] != 0 {
            return Err(self.codes[k]);
        }
        let (o, l) = self.spans[k];
        Ok(&self.text[o as usize..(o + l) as usize])
    }

    fn store(&mut self, f: ProcFile, data: Result<&[u8], i32>, now: Instant) {
        let k = ident_index(f);
        match data {
            Ok(d) => {
                // A replaced value leaves its old text behind: compact when it is mostly waste.
                let live: u32 = self.spans.iter().map(|s| s.1).sum::<u32>() - self.spans[k].1;
                if self.text.len() > 2 * (live as usize + d.len()) + 256 {
                    self.compact(k);
                }
                self.spans[k] = (self.text.len() as u32, d.len() as u32);
                self.text.extend_from_slice(d);
                self.codes[k] = 0;
            }
            Err(code) => {
                self.spans[k] = (0, 0);
                self.codes[k] = code;
            }
        }
        self.at[k] = Some(now);
    }

    /// Rewrites `text` with the live spans only, leaving out file `skip`.
    fn compact(&mut self, skip: usize) {
        let mut text = Vec::new();
        for (k, s) in self.spans.iter_mut().enumerate() {
            if k == skip || s.1 == 0 {
                *s = (0, 0);
                continue;
            }
            let off = text.len() as u32;
            text.extend_from_slice(&self.text[s.0 as usize..(s.0 + s.1) as usize]);
            *s = (off, s.1);
        }
        self.text = text;
    }
}

/// The identity cache state of one entry.
#[derive(Debug, Default)]
struct Cached {
    /// The exec key of the last `stat` before this scan, and of this scan's (`key_next`
    /// becomes `key` when the next scan starts, or when the identity files are read again
    /// after it in the same scan).
    key: Option<ExecKey>,
    key_next: Option<ExecKey>,
    ident: Option<Identity>,
}

/// How an entry is read again in the second phase of a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    No,
    /// The pid holds another process: every file, opened afresh.
    Process,
    /// Its `stat` showed an exec: the identity files that were to come from the cache.
    Identity,
}

/// What the scanner remembers of one pid between scans.
#[derive(Debug)]
pub(crate) struct Entry {
    pub pid: u32,
    /// `starttime` seen by the last successful `stat` (0: unknown).
    pub starttime: u64,
    pub held: [Handle; HELD_KINDS],
    /// Identity cache state (only with `Options::identity_cache`; boxed so that entries stay
    /// small without it).
    cache: Option<Box<Cached>>,
    /// Scratch flags of the running scan.
    pub vanished: bool,
    pub retry: Retry,
    /// Identity files to be served from the cache this scan.
    pub serve: u32,
    /// Held kinds refused with EACCES/EPERM while `/proc/<pid>` had owner `denied_owner`:
    /// not retried until the process or that owner changes; `denied_errno` keeps the kernel's
    /// exact errno per kind.
    pub denied: u32,
    pub denied_errno: [i32; HELD_KINDS],
    pub denied_owner: Option<(u32, u32)>,
    /// `Options::reuse_idle_stat`: the last `stat` read, and scratch flags of this scan
    /// (`stat` deferred until `schedstat` is read; `schedstat` read through a held handle).
    pub last: Option<Box<LastStat>>,
    pub defer_stat: bool,
    pub sched_held: bool,
}

impl Entry {
    pub(crate) fn new(pid: u32) -> Entry {
        Entry {
            pid,
            starttime: 0,
            held: [NO_HANDLE; HELD_KINDS],
            cache: None,
            vanished: false,
            retry: Retry::No,
            serve: 0,
            denied: 0,
            denied_errno: [0; HELD_KINDS],
            denied_owner: None,
            last: None,
            defer_stat: false,
            sched_held: false,
        }
    }

    /// Forgets what was known of the process: the pid is gone or belongs to another process.
    pub(crate) fn forget(&mut self) {
        self.cache = None;
        self.serve = 0;
        self.denied = 0;
        self.denied_owner = None;
        self.starttime = 0;
        self.last = None;
    }

    /// Starts a scan: the key of the last scan's `stat` becomes the one cached values are
    /// checked against, and the identity files of `wanted` that the cache may serve at `now`
    /// are marked in `serve`. A refresh (or the cache off) serves nothing.
    pub(crate) fn begin_scan(&mut self, wanted: u32, cache: Option<(Instant, u32)>) {
        self.vanished = false;
        self.retry = Retry::No;
        self.sched_held = false;
        self.serve = 0;
        self.roll_key();
        let Some((now, max_age)) = cache else {
            self.cache = None;
            return;
        };
        let Some(c) = self.cache.as_deref_mut() else { return };
        let (Some(id), Some(key)) = (c.ident.as_ref(), c.key.as_ref()) else {
            return;
        };
        if id.key != *key {
            c.ident = None;
            return;
        }
        for f in crate::files::FileSet(wanted).iter() {
            if id.serves(f, key, now, max_age) {
                self.serve |= f.bit();
            }
        }
    }

    /// Makes this scan's key the one later reads are checked against (its `stat` was read
    /// before them).
    pub(crate) fn roll_key(&mut self) {
        if let Some(c) = self.cache.as_deref_mut() {
            if let Some(k) = c.key_next.take() {
                c.key = Some(k);
            }
        }
    }

    /// Takes in the key of this scan's `stat` (`None`: not cacheable). Returns true when
    /// identity values were to be served from the cache but the key shows they belong to an
    /// earlier program: they are dropped, and must be read again (`serve` is then still set).
    pub(crate) fn observe_key(&mut self, key: Option<ExecKey>) -> bool {
        let c = self.cache.get_or_insert_with(Default::default);
        c.key_next = key;
        let stale = match (&c.ident, &key) {
            (Some(id), Some(k)) => id.key != *k,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if stale {
            c.ident = None;
        }
        stale && self.serve != 0
    }

    /// Remembers the result of identity file `f` read this scan at `now`, if rule 3 allows
    /// and a `stat` read before it vouches for the process.
    pub(crate) fn remember(&mut self, f: ProcFile, res: Result<&[u8], i32>, now: Instant) {
        let Some(c) = self.cache.as_deref_mut() else { return };
        let Some(key) = c.key else { return };
        if !cacheable(f, res, &key) {
            return;
        }
        let id = match &mut c.ident {
            Some(id) if id.key == key => id,
            slot => slot.insert(Identity::new(key)),
        };
        id.store(f, res, now);
    }

    /// The cached identity (when `serve` has bits).
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.cache.as_ref().and_then(|c| c.ident.as_ref())
    }

    /// Releases every held handle of this entry, giving its budget back.
    pub(crate) fn release(&mut self, engine: &mut dyn Engine, held: &mut u32) {
        for h in self.held.iter_mut().filter(|h| **h != NO_HANDLE) {
            engine.release(*h);
            *h = NO_HANDLE;
            *held -= 1;
            budget::release(1);
        }
    }
}

/// The last `stat` of a process and the `schedstat` read before it (`Options::reuse_idle_stat`).
#[derive(Debug)]
pub(crate) struct LastStat {
    pub stat: StatFields,
    pub state: u8,
    pub comm_len: u8,
    pub comm: [u8; 64],
    /// `schedstat` read in an earlier phase than `stat` (zero: unknown, never reused).
    pub sched: SchedstatFields,
}

impl LastStat {
    /// Whether this scan's record (with `schedstat` read through a held handle) shows that the
    /// process has not run since this `stat` was read.
    pub(crate) fn still_valid(&self, rec: &ProcRecord) -> bool {
        self.stat.num_threads == 1
            && self.sched != SchedstatFields::default()
            && rec.has(ProcFile::Schedstat)
            && rec.schedstat == self.sched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(comm: &[u8], starttime: u64, arg_start: u64) -> ExecKey {
        let st =
            StatFields { starttime, startcode: 1, endcode: 2, startstack: 3, ..Default::default() };
        ExecKey::new(&st, comm, Some([arg_start, arg_start + 10, arg_start + 10])).unwrap()
    }

    const ALL_ID: u32 = crate::files::FileSet::IDENTITY.0;

    /// One scan: begin, then this scan's stat shows `k`; returns whether a re-read is due.
    fn scan(e: &mut Entry, k: ExecKey, now: Instant) -> bool {
        e.begin_scan(ALL_ID, Some((now, 10_000)));
        e.observe_key(Some(k))
    }

    #[test]
    fn nothing_is_cached_before_a_stat_of_an_earlier_scan() {
        let t = Instant::now();
        let mut e = Entry::new(7);
        assert!(!scan(&mut e, key(b"sh", 5, 100), t));
        // Read in the same scan as the first stat: the stat may come after the read.
        e.remember(ProcFile::Comm, Ok(b"sh"), t);
        e.begin_scan(ALL_ID, Some((t, 10_000)));
        assert_eq!(e.serve, 0, "first read is not vouched for");
        e.remember(ProcFile::Comm, Ok(b"sh"), t);
        e.begin_scan(ALL_ID, Some((t, 10_000)));
        assert_eq!(e.serve, ProcFile::Comm.bit());
        assert_eq!(e.identity().unwrap().get(ProcFile::Comm), Ok(&b"sh"[..]));
    }

    #[test]
    fn an_exec_or_rename_drops_cached_values() {
        let t = Instant::now();
        for new in [key(b"sleep", 5, 100), key(b"sh", 5, 200), key(b"sh", 6, 100)] {
            let mut e = Entry::new(7);
            scan(&mut e, key(b"sh", 5, 100), t);
            assert!(!scan(&mut e, key(b"sh", 5, 100), t));
            e.remember(ProcFile::Cmdline, Ok(b"sh\0-c\0"), t);
            assert!(!scan(&mut e, key(b"sh", 5, 100), t), "same program: served");
            assert_eq!(e.serve, ProcFile::Cmdline.bit());
            e.begin_scan(ALL_ID, Some((t, 10_000)));
            assert!(e.observe_key(Some(new)), "{new:?}: stale values must be read again");
            assert!(e.identity().is_none());
        }
    }

    #[test]
    fn a_value_read_after_an_exec_seen_by_this_scans_stat_is_checked_next_scan() {
        let t = Instant::now();
        let mut e = Entry::new(7);
        scan(&mut e, key(b"sh", 5, 100), t);
        // This scan's stat says sleep, but the value may have been read before the exec: it is
        // stored under the old key, so the next scan does not serve it.
        scan(&mut e, key(b"sleep", 5, 300), t);
        e.remember(ProcFile::Comm, Ok(b"sh"), t);
        e.begin_scan(ALL_ID, Some((t, 10_000)));
        assert_eq!(e.serve, 0);
        assert!(e.identity().is_none());
    }

    #[test]
    fn a_skip_stat_first_read_is_checked_by_the_next_stat() {
        let t = Instant::now();
        let mut e = Entry::new(7);
        scan(&mut e, key(b"sh", 5, 100), t);
        // A batch without stat reads comm: vouched for by the last scan's stat.
        e.begin_scan(ALL_ID, Some((t, 10_000)));
        e.remember(ProcFile::Comm, Ok(b"sh"), t);
        e.begin_scan(ALL_ID, Some((t, 10_000)));
        assert_eq!(e.serve, ProcFile::Comm.bit());
        assert!(e.observe_key(Some(key(b"sleep", 5, 300))), "exec seen by the next stat");
    }

    #[test]
    fn values_expire() {
        let t = Instant::now();
        let mut e = Entry::new(7);
        scan(&mut e, key(b"sh", 5, 100), t);
        scan(&mut e, key(b"sh", 5, 100), t);
        e.remember(ProcFile::Exe, Ok(b"/bin/sh"), t);
        e.begin_scan(ALL_ID, Some((t + Duration::from_millis(999), 1000)));
        assert_eq!(e.serve, ProcFile::Exe.bit());
        e.begin_scan(ALL_ID, Some((t + Duration::from_millis(1000), 1000)));
        assert_eq!(e.serve, 0);
        e.begin_scan(ALL_ID, None);
        assert!(e.identity().is_none(), "cache off: nothing kept");
    }

    #[test]
    fn transient_errors_and_exec_window_cmdlines_are_never_cached() {
        let k = key(b"sh", 5, 100);
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::EAGAIN, libc::EINTR] {
            assert!(!cacheable(ProcFile::Comm, Err(errno), &k), "errno {errno}");
        }
        assert!(!cacheable(ProcFile::Cgroup, Err(libc::EACCES), &k));
        assert!(cacheable(ProcFile::Environ, Err(libc::ESRCH), &k));
        assert!(cacheable(ProcFile::Exe, Err(libc::ENOENT), &k));
        assert!(!cacheable(ProcFile::Cmdline, Ok(b""), &k), "empty cmdline of a user process");
        assert!(cacheable(ProcFile::Cmdline, Ok(b"sh\0"), &k));
        assert!(cacheable(ProcFile::Comm, Ok(b""), &k));
        let st = StatFields { flags: PF_KTHREAD, ..Default::default() };
        let kt = ExecKey::new(&st, b"kworker/0:1", None).unwrap();
        assert!(cacheable(ProcFile::Cmdline, Ok(b""), &kt), "kernel threads have no cmdline");
        let t = Instant::now();
        let mut e = Entry::new(7);
        scan(&mut e, k, t);
        scan(&mut e, k, t);
        e.remember(ProcFile::Comm, Err(libc::EMFILE), t);
        e.remember(ProcFile::Cmdline, Ok(b""), t);
        e.begin_scan(ALL_ID, Some((t, 10_000)));
        assert_eq!(e.serve, 0);
    }

    #[test]
    fn long_comms_are_never_cached() {
        assert!(ExecKey::new(&StatFields::default(), &[b'x'; 65], None).is_none());
        let t = Instant::now();
        let mut e = Entry::new(7);
        e.begin_scan(ALL_ID, Some((t, 10_000)));
        e.observe_key(None);
        e.begin_scan(ALL_ID, Some((t, 10_000)));
        e.remember(ProcFile::Comm, Ok(b"x"), t);
        assert!(e.identity().is_none());
    }

    #[test]
    fn replaced_texts_do_not_grow_without_bound() {
        let t = Instant::now();
        let mut id = Identity::new(key(b"sh", 1, 1));
        for i in 0..1000u32 {
            id.store(ProcFile::Cmdline, Ok(format!("worker {i}").as_bytes()), t);
            id.store(ProcFile::Comm, Ok(b"sh"), t);
        }
        assert!(id.text.len() < 1024, "{}", id.text.len());
        assert_eq!(id.get(ProcFile::Cmdline), Ok(&b"worker 999"[..]));
        assert_eq!(id.get(ProcFile::Comm), Ok(&b"sh"[..]));
    }

    #[test]
    fn the_budget_is_all_or_nothing() {
        // Other tests of this binary may hold some: work relative to what is kept now.
        let base = budget::kept();
        assert!(budget::reserve(base + 3, 3));
        assert!(!budget::reserve(base + 3, 1));
        budget::release(3);
        assert!(!budget::reserve(base + 2, 3));
        assert_eq!(budget::limit(1024), 512);
    }
}
