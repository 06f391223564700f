//! Whether any process can have been created since an earlier moment, from the kernel's own
//! counters, so that a scan can keep its last pid list instead of listing `/proc` again.
//!
//! The argument: the `processes` line of `/proc/stat` is the kernel's `total_forks`, incremented
//! for every successful `fork`/`clone` (threads and kernel threads included, every pid namespace)
//! in the same `tasklist_lock` section that attaches the new pid, after it. If it reads the same
//! now as right before a complete listing, no process has been created since: every process that
//! exists now was in that listing. Exits need no counter: a scan reads a file of every listed
//! process, and the read of a gone one fails. So a listing is needed only when the counter moved.
//!
//! On x86 (total store order) a reader that sees the counter sees the attach too; on weakly
//! ordered CPUs the window is the drain of a store buffer, while a listing starts microseconds
//! after the counter is read.
//!
//! Reading `/proc/stat` costs about 7 us on 2 CPUs and grows with CPUs and interrupts, so a
//! 1-us read of `/proc/loadavg` comes first: its last field, the last pid allocated in the
//! reader's pid namespace, moves on any creation the reader can see, and then the listing is
//! needed anyway. Only when it has not moved is `/proc/stat` read; a listing that follows a
//! moved `last_pid` without a counter read cannot vouch for the next scan, which then lists once
//! more (the first check reads the counter too, so a new scanner's second scan can keep the list).
//!
//! Not used (always list) when the root is not procfs, when either file cannot be read or parsed,
//! or when the mount has `hidepid` set: there, a process changing credentials can become visible
//! without any fork.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::sys;

/// Longest `/proc/stat` read (it grows with CPUs and interrupt lines).
const MAX_STAT: usize = 16 << 20;

/// Watches the kernel's fork counter across listings of one proc root.
#[derive(Debug)]
pub(crate) struct ForkWatch {
    loadavg: OwnedFd,
    stat: OwnedFd,
    buf: Vec<u8>,
    state: WatchState,
}

/// The decision logic of [`ForkWatch`], apart from the reads.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WatchState {
    last_pid: Option<u64>,
    forks: Option<u64>,
    /// Threads the scanner itself created since the counter was read (`Options::threads`):
    /// each moved the counter by exactly one, and none is a process.
    own: u64,
}

impl WatchState {
    /// One check right before a listing would start, with the `last_pid` read now and a reader
    /// of the fork counter. True: no process was created since the previous check, so the
    /// listing that followed it (if complete) is still complete.
    pub(crate) fn quiet(
        &mut self,
        last_pid: Option<u64>,
        forks: impl FnOnce() -> Option<u64>,
    ) -> bool {
        let first = self.last_pid.is_none();
        // The caller's own threads move last_pid too, by at least one each (pids are allocated
        // cyclically, skipping used ones): only the counter, moved by exactly one per thread,
        // can discount them, so it is read whenever there are some.
        if last_pid.is_none() || (last_pid != self.last_pid && self.own == 0) {
            // The first check reads the counter too, so that the second scan can already keep
            // the list; later moves of last_pid skip it (a busy node pays 1 us, not 7).
            let forks = if first && last_pid.is_some() { forks() } else { None };
            *self = WatchState { last_pid, forks, own: 0 };
            return false;
        }
        let now = forks();
        let same = now.is_some() && now == self.forks.map(|f| f + self.own);
        *self = WatchState { last_pid, forks: now, own: 0 };
        same
    }

    /// Counts `n` threads the caller created (and that started) since the last check: each
    /// moved the counter by one and created no process. Never count one that may have failed:
    /// an undercount only costs a listing, an overcount could hide a new process.
    pub(crate) fn own_threads(&mut self, n: u64) {
        self.own += n;
    }
}

impl ForkWatch {
    /// The watch of the procfs mount `root` (whose `hidepid`, from [`hidepid`], is `hides`),
    /// or `None` when reuse of a listing would not be sound there (see the module docs).
    pub(crate) fn open(root: &OwnedFd, hides: Option<bool>) -> Option<ForkWatch> {
        if hides != Some(false) {
            return None;
        }
        let mut w = ForkWatch {
            loadavg: sys::open_owned_at(root, b"loadavg\0").ok()?,
            stat: sys::open_owned_at(root, b"stat\0").ok()?,
            buf: vec![0; 16 << 10],
            state: WatchState::default(),
        };
        // Both files must parse now; a later failure only forces a listing.
        w.last_pid()?;
        read_forks(&w.stat, &mut w.buf)?;
        Some(w)
    }

    /// See [`WatchState::quiet`]; reads `/proc/loadavg`, then `/proc/stat` only if needed.
    pub(crate) fn quiet(&mut self) -> bool {
        let last_pid = self.last_pid();
        let (stat, buf) = (&self.stat, &mut self.buf);
        self.state.quiet(last_pid, || read_forks(stat, buf))
    }

    /// See [`WatchState::own_threads`].
    pub(crate) fn own_threads(&mut self, n: u64) {
        self.state.own_threads(n);
    }

    fn last_pid(&mut self) -> Option<u64> {
        let n = sys::pread(self.loadavg.as_raw_fd(), &mut self.buf, 0).ok()?;
        parse_last_pid(&self.buf[..n])
    }

    #[cfg(test)]
    fn forks(&mut self) -> Option<u64> {
        read_forks(&self.stat, &mut self.buf)
    }
}

/// The fork counter from a held `/proc/stat` descriptor, growing `buf` until the file fits.
fn read_forks(stat: &OwnedFd, buf: &mut Vec<u8>) -> Option<u64> {
    loop {
        let n = sys::pread(stat.as_raw_fd(), buf, 0).ok()?;
        if n < buf.len() {
            return parse_forks(&buf[..n]);
        }
        if buf.len() >= MAX_STAT {
            return None;
        }
        let len = buf.len() * 2;
        buf.resize(len, 0);
    }
}

/// Whether the procfs mount of `root` has `hidepid` set, from `self/mountinfo` (`None`: unknown).
pub(crate) fn hidepid(root: &OwnedFd) -> Option<bool> {
    let id = sys::mount_id(root).ok()?;
    let fd = sys::open_owned_at(root, b"self/mountinfo\0").ok()?;
    let mut text = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = sys::pread(fd.as_raw_fd(), &mut buf, text.len() as u64).ok()?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    mount_hides_pids(&text, id)
}

/// From the text of a `mountinfo`: whether the mount `id` has a `hidepid` other than `off`.
fn mount_hides_pids(mountinfo: &[u8], id: u64) -> Option<bool> {
    let line = mountinfo.split(|&c| c == b'\n').find(|l| {
        let first = l.split(|&c| c == b' ').next().unwrap_or_default();
        crate::parse::u64_dec(first).ok() == Some(id)
    })?;
    // Options after the " - " separator: fs type, source, super options.
    let sep = line.windows(3).position(|w| w == b" - ")?;
    let super_opts = line[sep + 3..].split(|&c| c == b' ').nth(2).unwrap_or_default();
    Some(
        super_opts
            .split(|&c| c == b',')
            .any(|o| o.strip_prefix(b"hidepid=").is_some_and(|v| v != b"0" && v != b"off")),
    )
}

/// The last field of `/proc/loadavg` ("0.16 1.04 0.93 1/141 11155\n").
fn parse_last_pid(b: &[u8]) -> Option<u64> {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    let last = b.rsplit(|&c| c == b' ').next()?;
    crate::parse::u64_dec(last).ok()
}

/// The value of the `processes` line of `/proc/stat`.
fn parse_forks(b: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\nprocesses ";
    let at = b.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &b[at..];
    let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    crate::parse::u64_dec(&rest[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_needs_an_unchanged_last_pid_and_counter() {
        let mut s = WatchState::default();
        assert!(
            !s.quiet(Some(10), || Some(5)),
            "the first check never vouches, but reads the counter"
        );
        assert!(s.quiet(Some(10), || Some(5)));
        assert!(s.quiet(Some(10), || Some(5)));
        assert!(!s.quiet(Some(10), || Some(6)), "a fork the reader's pid namespace cannot see");
        assert!(s.quiet(Some(10), || Some(6)));
        assert!(!s.quiet(Some(11), || panic!("counter read while last_pid moved")));
        assert!(
            !s.quiet(Some(11), || Some(6)),
            "the listing after a moved last_pid had no counter"
        );
        assert!(s.quiet(Some(11), || Some(6)));
        assert!(!s.quiet(Some(11), || None), "an unreadable counter never vouches");
        assert!(!s.quiet(Some(11), || Some(6)));
        assert!(!s.quiet(None, || Some(6)));
        assert!(!s.quiet(None, || Some(6)));
    }

    #[test]
    fn own_threads_are_discounted_exactly() {
        let mut s = WatchState::default();
        assert!(!s.quiet(Some(10), || Some(5)));
        // Two threads of ours: last_pid moved, the counter by exactly two.
        s.own_threads(2);
        assert!(s.quiet(Some(12), || Some(7)));
        // Two of ours and one process of someone else's.
        s.own_threads(2);
        assert!(!s.quiet(Some(15), || Some(10)));
        assert!(s.quiet(Some(15), || Some(10)));
        // Ours counted, but the counter moved less (a spawn that failed after counting would
        // be a bug of the caller): never quiet.
        s.own_threads(3);
        assert!(!s.quiet(Some(17), || Some(12)));
        // Without own threads, a moved last_pid skips the counter again.
        assert!(!s.quiet(Some(18), || panic!("counter read while last_pid moved")));
    }

    #[test]
    fn parses_loadavg_and_stat() {
        assert_eq!(parse_last_pid(b"0.16 1.04 0.93 1/141 11155\n"), Some(11155));
        assert_eq!(parse_last_pid(b"0.16 1.04 0.93 1/141 \n"), None);
        assert_eq!(
            parse_forks(b"cpu 1 2\nctxt 9\nbtime 1\nprocesses 1338867\nprocs_running 1\n"),
            Some(1338867)
        );
        assert_eq!(parse_forks(b"cpu 1 2\nprocs_running 1\n"), None);
        assert_eq!(parse_forks(b"cpu 1\nprocesses x\n"), None);
    }

    #[test]
    fn finds_hidepid_of_the_mount() {
        let mi = b"22 28 0:21 / /proc rw,nosuid - proc proc rw\n\
                   31 22 0:30 / /proc/sys ro - proc proc rw,hidepid=invisible\n\
                   40 22 0:31 / /mnt/p rw - proc proc rw,hidepid=0\n\
                   41 22 0:31 / /mnt/q rw - proc proc rw,hidepid=off,gid=4\n";
        assert_eq!(mount_hides_pids(mi, 22), Some(false));
        assert_eq!(mount_hides_pids(mi, 31), Some(true));
        assert_eq!(mount_hides_pids(mi, 40), Some(false));
        assert_eq!(mount_hides_pids(mi, 41), Some(false));
        assert_eq!(mount_hides_pids(mi, 2), None);
    }

    #[test]
    fn live_proc_has_a_watch() {
        let root = sys::open_dir(c"/proc").unwrap();
        let mut w = ForkWatch::open(&root, hidepid(&root)).expect("procfs without hidepid");
        assert!(!w.quiet(), "the first check never vouches");
        let before = w.forks().unwrap();
        std::thread::spawn(|| {}).join().unwrap();
        assert!(w.forks().unwrap() > before, "a new thread moves the counter");
    }
}
