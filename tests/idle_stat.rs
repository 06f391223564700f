//! `Options::reuse_idle_stat` on the real /proc: `stat` of a process that has not run since the
//! last scan is served from the last read (marked in `cached_mask`) and equals a fresh read; a
//! process that ran, one that burns CPU and every multi-threaded process get a fresh `stat`; a
//! process that exits is dropped.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{sleeper, Kids};
use procuring::{EngineKind, FileSet, Options, ProcFile, ProcRecord, ScanFlags, Scanner};

fn gated(engine: EngineKind) -> Scanner {
    Scanner::new(Options { engine, reuse_idle_stat: true, max_held_fds: 600, ..Default::default() })
        .unwrap()
}

fn reused(r: &ProcRecord) -> bool {
    r.cached_mask & FileSet::STAT.0 != 0
}

/// Scans `pids` with `s` until `ok` holds for the snapshot (the first scans only learn).
fn scan_until(s: &mut Scanner, pids: &[i32], ok: impl Fn(&procuring::Snapshot) -> bool) {
    let t = Instant::now();
    loop {
        let snap = s.scan_pids(pids, FileSet::STAT, ScanFlags::NONE).unwrap();
        if ok(snap) {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "timed out: {:?}", snap.records());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn idle_processes_reuse_stat_busy_and_woken_ones_do_not() {
    for engine in [EngineKind::Sync, EngineKind::Uring] {
        let idle = sleeper();
        let mut cat =
            Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let busy = Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
        let mut stdin = cat.stdin.take().unwrap();
        let pids: Vec<i32> = [idle.id(), cat.id(), busy.id()].map(|p| p as i32).to_vec();
        let kids = Kids(vec![idle, cat, busy]);
        let (idle, cat, busy) = (pids[0], pids[1], pids[2]);

        let mut s = gated(engine);
        // The idle children settle (exec, page faults) and then reuse their stat.
        scan_until(&mut s, &pids, |snap| {
            [idle, cat].iter().all(|&p| snap.get(p).is_some_and(reused))
        });
        let snap = s.snapshot();
        assert!(snap.stats().stat_reused >= 2, "{engine:?}: {:?}", snap.stats());
        let busy_rec = *snap.get(busy).unwrap();
        assert!(!reused(&busy_rec), "{engine:?}: a process burning CPU always runs between scans");
        let idle_rec = *snap.get(idle).unwrap();
        let idle_comm = snap.comm(&idle_rec).to_vec();
        assert!(idle_rec.has(ProcFile::Stat) && idle_rec.has(ProcFile::Schedstat), "{engine:?}");

        // The reused stat is what a fresh read says.
        let mut plain =
            Scanner::new(Options { engine, max_held_fds: 10, ..Default::default() }).unwrap();
        let fresh_snap = plain.scan_pids(&[idle], FileSet::STAT, ScanFlags::NONE).unwrap();
        let fresh = fresh_snap.get(idle).unwrap();
        assert!(!reused(fresh));
        let key = |r: &ProcRecord| {
            let st = r.stat;
            (
                r.state,
                st.utime,
                st.stime,
                st.minflt,
                st.majflt,
                st.num_threads,
                st.starttime,
                st.vsize,
                st.ppid,
            )
        };
        assert_eq!(key(&idle_rec), key(fresh), "{engine:?}");
        assert_eq!(idle_comm, fresh_snap.comm(fresh), "{engine:?}");

        // CPU time keeps moving for the busy child.
        let before = busy_rec.cpu_ticks();
        scan_until(&mut s, &pids, |snap| {
            snap.get(busy).is_some_and(|r| !reused(r) && r.cpu_ticks() > before)
        });

        // Waking cat (it reads a line) makes it run: the next scan reads its stat again.
        let slices = s.snapshot().get(cat).unwrap().schedstat.timeslices;
        stdin.write_all(b"wake up\n").unwrap();
        stdin.flush().unwrap();
        scan_until(&mut s, &pids, |snap| {
            snap.get(cat).is_some_and(|r| r.schedstat.timeslices > slices)
        });
        let r = s.snapshot().get(cat).unwrap();
        assert!(!reused(r), "{engine:?}: cat ran since the last scan but its stat was reused");

        // An idle child that exits is dropped, not served from its last stat.
        drop(stdin);
        drop(kids);
        scan_until(&mut s, &pids, |snap| snap.records().is_empty());
    }
}

#[test]
fn multi_threaded_processes_always_read_stat() {
    let mut s = gated(EngineKind::Sync);
    for _ in 0..3 {
        let snap = s.scan().unwrap();
        for r in snap.records() {
            if reused(r) {
                assert_eq!(
                    r.stat.num_threads, 1,
                    "pid {}: stat of a multi-threaded process reused",
                    r.pid
                );
                assert!(r.has(ProcFile::Stat), "pid {}", r.pid);
            }
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    // This test process has the harness's threads: never reused.
    let me = std::process::id() as i32;
    let snap = s.scan().unwrap();
    let r = snap.get(me).unwrap();
    if r.stat.num_threads > 1 {
        assert!(!reused(r));
    }
}

#[test]
fn off_by_default() {
    let mut s = Scanner::new(Options { max_held_fds: 100, ..Default::default() }).unwrap();
    assert!(!s.options().reuse_idle_stat);
    for _ in 0..3 {
        let snap = s.scan().unwrap();
        assert_eq!(snap.stats().stat_reused, 0);
        assert!(snap.records().iter().all(|r| !reused(r) && !r.has(ProcFile::Schedstat)));
    }
}

#[test]
fn a_tight_descriptor_cap_goes_to_schedstat() {
    // Six idle children, room for six descriptors: schedstat (read every scan) gets them all,
    // so every child can reuse its stat; stat is opened only when a child runs.
    let kids = Kids((0..6).map(|_| sleeper()).collect());
    let pids: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    for engine in [EngineKind::Sync, EngineKind::Uring] {
        let mut s = Scanner::new(Options {
            engine,
            reuse_idle_stat: true,
            max_held_fds: 6,
            ..Default::default()
        })
        .unwrap();
        scan_until(&mut s, &pids, |snap| snap.stats().stat_reused == 6);
        assert_eq!(s.held_fds(), 6, "{engine:?}");
        let snap = s.snapshot();
        assert!(snap.records().iter().all(reused), "{engine:?}");
        assert_eq!(snap.stats().held_reads, 6, "{engine:?}: only schedstat is read");
    }
}
