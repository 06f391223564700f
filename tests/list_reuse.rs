//! A scan keeps the previous pid list only while the kernel's fork counter says no process was
//! created (`ScanStats::list_reused`): a new process is always seen on the next scan, a process
//! that exited is dropped even when the list was reused, and the cases that must list (the
//! `list_every_scan` option, a fixture root, after `scan_pids`, `SKIP_STAT` scans) do.
//!
//! Other work on the machine (and this binary's other tests, threads count as forks) can move
//! the counter at any time: the tests wait for quiet scans instead of assuming them, and assert
//! what must hold either way.

mod common;

use std::time::{Duration, Instant};

use common::{sleeper, Kids};
use procuring::{EngineKind, FileSet, Options, ScanFlags, Scanner};

fn scanner(engine: EngineKind) -> Scanner {
    with(Options { engine, files: FileSet::STAT, ..Default::default() })
}

fn with(o: Options) -> Scanner {
    let s = Scanner::new(o).unwrap();
    assert!(s.may_reuse_listing(), "/proc (procfs without hidepid) supports keeping the pid list");
    s
}

/// Scans until one keeps the previous pid list; returns whether `pid` was in that scan. Panics
/// after 20 s (a machine that creates a process or thread between every two scans).
fn scan_until_reused(s: &mut Scanner, pid: i32) -> bool {
    let t = Instant::now();
    loop {
        let snap = s.scan().unwrap();
        if snap.stats().list_reused == 1 {
            return snap.get(pid).is_some();
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no quiet scan in 20 s: processes are created all the time"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_new_process_is_listed_and_an_exited_one_dropped() {
    // `threads: 2` starts a thread per scan (enough processes for the parallel path): it moves
    // the fork counter, and the scanner must discount exactly its own.
    let _crowd = Kids((0..150).map(|_| sleeper()).collect());
    let threads = Options {
        engine: EngineKind::Sync,
        files: FileSet::STAT,
        threads: 2,
        ..Default::default()
    };
    for (name, opts) in [
        ("sync", Options { engine: EngineKind::Sync, files: FileSet::STAT, ..Default::default() }),
        (
            "uring",
            Options { engine: EngineKind::Uring, files: FileSet::STAT, ..Default::default() },
        ),
        ("sync, 2 threads", threads),
    ] {
        let mut s = with(opts);
        let me = std::process::id() as i32;
        assert!(scan_until_reused(&mut s, me), "{name}: the reused list has this process");
        // Each round: a new process (the fork moves the counter: the next scan lists and sees
        // it), then its exit between two quiet scans (the reused list has the pid, its read
        // fails, the record is dropped). Retried when something else forks in between.
        let mut proven = false;
        for _ in 0..20 {
            let mut kids = Kids(vec![sleeper()]);
            let pid = kids.0[0].id() as i32;
            let snap = s.scan().unwrap();
            assert_eq!(snap.stats().list_reused, 0, "{name}: a fork since the last scan");
            assert!(snap.get(pid).is_some(), "{name}: new process {pid} missing");
            assert!(scan_until_reused(&mut s, pid), "{name}: {pid} missing from a reused list");
            kids.0[0].kill().unwrap();
            kids.0[0].wait().unwrap();
            let snap = s.scan().unwrap();
            assert!(snap.get(pid).is_none(), "{name}: exited {pid} returned");
            if snap.stats().list_reused == 1 {
                assert!(snap.stats().vanished >= 1, "{name}: {:?}", snap.stats());
                for _ in 0..3 {
                    assert!(
                        s.scan().unwrap().get(pid).is_none(),
                        "{name}: exited {pid} returned later"
                    );
                }
                proven = true;
                break;
            }
        }
        assert!(proven, "{name}: never saw an exit between two quiet scans");
    }
}

#[test]
fn list_every_scan_and_the_other_cases_that_must_list() {
    let mut s =
        Scanner::new(Options { files: FileSet::STAT, list_every_scan: true, ..Default::default() })
            .unwrap();
    assert!(!s.may_reuse_listing());
    for _ in 0..5 {
        assert_eq!(s.scan().unwrap().stats().list_reused, 0);
    }

    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc");
    let mut f = Scanner::new(Options {
        proc_root: fixtures.into(),
        files: FileSet::STAT,
        ..Default::default()
    })
    .unwrap();
    assert!(!f.may_reuse_listing(), "a fixture root is not procfs");
    for _ in 0..3 {
        assert_eq!(f.scan().unwrap().stats().list_reused, 0);
    }

    let mut s = scanner(EngineKind::Sync);
    let me = std::process::id() as i32;
    scan_until_reused(&mut s, me);
    // scan_pids replaces the list: the next full scan lists again, and returns everything.
    assert_eq!(s.scan_pids(&[me], FileSet::STAT, ScanFlags::NONE).unwrap().records().len(), 1);
    let snap = s.scan().unwrap();
    assert_eq!(snap.stats().list_reused, 0, "after scan_pids");
    assert!(snap.records().len() > 1);
    // SKIP_STAT reads nothing of known processes, so it could not see their exits: it lists.
    scan_until_reused(&mut s, me);
    assert_eq!(
        s.scan_with(FileSet::STAT, ScanFlags::SKIP_STAT).unwrap().stats().list_reused,
        0,
        "SKIP_STAT"
    );
}
