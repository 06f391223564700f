//! The scanner on the real /proc with children this test spawns: hostile comm, hostile and
//! long argv, a zombie; both engines must return the same records.

use std::os::unix::fs::symlink;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use procuring::{EngineKind, FileSet, Options, ProcFile, ProcRecord, Scanner, Snapshot};

struct Kids(Vec<Child>);
impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn sleeper_named(dir: &std::path::Path, name: &str) -> Child {
    let link = dir.join(name);
    let _ = std::fs::remove_file(&link);
    symlink("/bin/sleep", &link).unwrap();
    Command::new(&link).arg("600").stdout(Stdio::null()).spawn().unwrap()
}

/// Tests run in parallel in one process and share its held-descriptor budget (half the soft
/// RLIMIT_NOFILE): each scanner holds at most 600, whatever else runs on the machine.
fn scanner(engine: EngineKind) -> Scanner {
    Scanner::new(Options { engine, files: FileSet::ALL, max_held_fds: 600, ..Default::default() })
        .unwrap()
}

/// As `scanner`, with the opt-in identity cache.
fn caching_scanner(engine: EngineKind) -> Scanner {
    Scanner::new(Options {
        engine,
        files: FileSet::ALL,
        max_held_fds: 600,
        identity_cache: true,
        ..Default::default()
    })
    .unwrap()
}

fn wait_for(mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting for children");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until every pid runs `sleep` and sleeps with counters that stopped moving (a freshly
/// exec'd process still faults pages in for a moment), so two scans may compare every field.
fn settle(s: &mut Scanner, pids: &[i32]) {
    let mut last: Vec<(u64, u64, u64)> = Vec::new();
    wait_for(|| {
        let snap = s.scan_pids(pids, FileSet::ALL, procuring::ScanFlags::REFRESH_IDENTITY).unwrap();
        let ok = snap.records().len() == pids.len()
            && snap.records().iter().all(|r| snap.comm(r) == b"sleep" && r.state == b'S');
        let now: Vec<_> = snap
            .records()
            .iter()
            .map(|r| (r.stat.minflt, r.stat.utime + r.stat.stime, r.status.vm_rss))
            .collect();
        let stable = ok && now == last;
        last = now;
        if !stable {
            std::thread::sleep(Duration::from_millis(20));
        }
        stable
    });
}

/// The record of `pid` after the child has exec'd (its comm no longer the test's).
fn record_of(s: &mut Scanner, pid: u32, comm: &[u8]) -> (ProcRecord, Vec<u8>) {
    let mut out = None;
    wait_for(|| {
        let snap = s.scan().unwrap();
        match snap.get(pid as i32) {
            Some(r) if snap.comm(r) == comm => {
                out = Some((*r, snap.comm(r).to_vec()));
                true
            }
            _ => false,
        }
    });
    out.unwrap()
}

#[test]
fn hostile_comm_argv_and_zombie_on_both_engines() {
    let dir = std::env::temp_dir().join(format!("procuring-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let long = "x".repeat(10 * 1024);
    let mut kids = Kids(vec![
        sleeper_named(&dir, "a b) (c"),
        sleeper_named(&dir, "nl\nx) y"),
        // `read` is a builtin: the shell waits on its stdin pipe with no child of its own,
        // which killing the shell would leave orphaned.
        Command::new("/bin/sh")
            .args(["-c", "read x", "argv0", "arg with spaces", "line\nbreak", &long])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        Command::new("/bin/sh").args(["-c", "exit 0"]).spawn().unwrap(), // becomes a zombie
    ]);
    let pids: Vec<u32> = kids.0.iter().map(|c| c.id()).collect();

    for engine in [EngineKind::Sync, EngineKind::Uring] {
        let mut s = scanner(engine);
        assert_eq!(s.engine(), engine);
        let (r, _) = record_of(&mut s, pids[0], b"a b) (c");
        let snap = s.snapshot();
        assert_eq!(snap.bytes(r.stat.comm), b"a b) (c");
        assert_eq!(r.stat.ppid, std::process::id() as i64);
        assert!(r.has(ProcFile::Exe) && snap.bytes(r.exe).ends_with(b"sleep"), "{engine:?}");

        let (r, _) = record_of(&mut s, pids[1], b"nl\nx) y");
        assert_eq!(s.snapshot().bytes(r.stat.comm), b"nl\nx) y");
        assert_eq!(s.snapshot().bytes(r.status.name), b"nl\\nx) y", "status escapes the newline");

        let (r, _) = record_of(&mut s, pids[2], b"sh");
        let args: Vec<Vec<u8>> = s.snapshot().cmdline_args(&r).map(<[u8]>::to_vec).collect();
        let want: Vec<&[u8]> = vec![
            b"/bin/sh",
            b"-c",
            b"read x",
            b"argv0",
            b"arg with spaces",
            b"line\nbreak",
            long.as_bytes(),
        ];
        assert_eq!(args, want, "{engine:?}: 10 KiB argv read in full");

        wait_for(|| s.scan().unwrap().get(pids[3] as i32).is_some_and(|r| r.state == b'Z'));
        let snap = s.scan().unwrap();
        let z = snap.get(pids[3] as i32).unwrap();
        assert_eq!(z.state, b'Z');
        assert!(z.has(ProcFile::Stat) && z.has(ProcFile::Status));
        assert_eq!(snap.cmdline_args(z).count(), 0, "a zombie has no cmdline");
        assert!(z.has(ProcFile::Exe) && z.exe.len == 0, "a zombie has no exe: empty, as procfs");
    }
    // Kernel threads: no cmdline, no exe, but stat and status.
    let mut s = scanner(EngineKind::Sync);
    let snap = s.scan().unwrap();
    let kthreadd = snap.get(2).expect("kthreadd");
    assert_eq!(snap.comm(kthreadd), b"kthreadd");
    assert_eq!((kthreadd.cmdline.len, kthreadd.exe.len), (0, 0));
    kids.0.iter_mut().for_each(|c| drop(c.kill()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Numeric fields and texts of one record, arena offsets aside.
fn comparable(snap: &Snapshot, r: &ProcRecord) -> (ProcRecord, Vec<Vec<u8>>) {
    let mut n = *r;
    let texts = [
        r.stat.comm,
        r.status.name,
        r.status.nspids,
        r.status.cpus_allowed_list,
        r.comm,
        r.cmdline,
        r.exe,
        r.cgroup,
        r.environ,
    ]
    .iter()
    .map(|s| snap.bytes(*s).to_vec())
    .collect();
    for s in [
        &mut n.stat.comm,
        &mut n.status.name,
        &mut n.status.nspids,
        &mut n.status.cpus_allowed_list,
        &mut n.comm,
        &mut n.cmdline,
        &mut n.exe,
        &mut n.cgroup,
        &mut n.environ,
    ] {
        *s = Default::default();
    }
    n.cached_mask = 0;
    (n, texts)
}

#[test]
fn engines_return_identical_records() {
    let mut kids =
        Kids((0..20).map(|_| Command::new("/bin/sleep").arg("600").spawn().unwrap()).collect());
    let pids: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    let mut a = scanner(EngineKind::Sync);
    let mut b = scanner(EngineKind::Uring);
    settle(&mut a, &pids);
    for round in 0..3 {
        // Idle children: every field, counters included, must match across engines.
        let sa = a.scan_pids(&pids, FileSet::ALL, Default::default()).unwrap();
        let ra: Vec<_> = sa.records().iter().map(|r| comparable(sa, r)).collect();
        let sb = b.scan_pids(&pids, FileSet::ALL, Default::default()).unwrap();
        let rb: Vec<_> = sb.records().iter().map(|r| comparable(sb, r)).collect();
        assert_eq!(ra.len(), pids.len());
        assert_eq!(ra, rb, "round {round}");
        if round > 0 {
            // Exact by default: every identity file (exe included) read again, every other
            // file through a held descriptor.
            let n = pids.len() as u32;
            let st = sb.stats();
            assert_eq!((st.opened, st.held_reads, st.cached), (5 * n, 4 * n, 0), "round {round}");
        }
    }
    kids.0.iter_mut().for_each(|c| drop(c.kill()));
}

#[test]
fn processes_that_exit_are_dropped_and_their_fds_released() {
    let mut kids =
        Kids((0..10).map(|_| Command::new("/bin/sleep").arg("600").spawn().unwrap()).collect());
    let pids: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    for engine in [EngineKind::Sync, EngineKind::Uring] {
        let mut s = scanner(engine);
        let files = FileSet::STAT.with(ProcFile::Status);
        s.scan_pids(&pids, files, Default::default()).unwrap();
        assert_eq!(s.held_fds(), 20);
        let snap = s.scan_pids(&pids[..4], files, Default::default()).unwrap();
        assert_eq!(snap.records().len(), 4);
        assert_eq!(s.held_fds(), 8, "{engine:?}: pids no longer listed release their fds");
    }
    // A pid whose process is gone: skipped and counted, fds released.
    let mut s = scanner(EngineKind::Sync);
    s.scan_pids(&pids, FileSet::STAT, Default::default()).unwrap();
    kids.0[0].kill().unwrap();
    kids.0[0].wait().unwrap();
    let snap = s.scan_pids(&pids, FileSet::STAT, Default::default()).unwrap();
    assert_eq!(snap.records().len(), 9);
    assert!(snap.get(pids[0]).is_none());
    assert_eq!((snap.stats().vanished, snap.stats().reused), (1, 0));
    assert_eq!(s.held_fds(), 9);
}

#[test]
fn identity_is_cached_and_refreshable() {
    let mut kids = Kids(vec![Command::new("/bin/sleep").arg("600").spawn().unwrap()]);
    let pid = kids.0[0].id() as i32;
    let mut exact = scanner(EngineKind::Sync);
    for _ in 0..3 {
        let snap = exact.scan_pids(&[pid], FileSet::ALL, Default::default()).unwrap();
        assert_eq!(snap.records()[0].cached_mask, 0, "nothing cached by default");
    }
    let mut s = caching_scanner(EngineKind::Sync);
    wait_for(|| {
        let snap =
            s.scan_pids(&[pid], FileSet::ALL, procuring::ScanFlags::REFRESH_IDENTITY).unwrap();
        snap.get(pid)
            .is_some_and(|r| snap.comm(r) == b"sleep" && snap.cmdline_args(r).next().is_some())
    });
    // That scan's stat may still predate the end of the exec (comm is set before the argument
    // addresses): one more scan reads stat and the identity files after it.
    s.scan_pids(&[pid], FileSet::ALL, procuring::ScanFlags::REFRESH_IDENTITY).unwrap();
    // Values are cached when read after a stat of an earlier scan: by this scan at the latest.
    let snap = s.scan_pids(&[pid], FileSet::ALL, Default::default()).unwrap();
    assert_eq!(snap.records()[0].cached_mask & !FileSet::IDENTITY.0, 0);
    let snap = s.scan_pids(&[pid], FileSet::ALL, Default::default()).unwrap();
    assert_eq!(snap.records()[0].cached_mask, FileSet::IDENTITY.0);
    let snap = s.scan_pids(&[pid], FileSet::ALL, procuring::ScanFlags::REFRESH_IDENTITY).unwrap();
    assert_eq!(snap.records()[0].cached_mask, 0);
    assert_eq!(snap.comm(&snap.records()[0]), b"sleep");
    kids.0[0].kill().unwrap();
}

#[test]
fn forced_uring_or_auto_report_their_engine() {
    let s = Scanner::new(Options { engine: EngineKind::Auto, ..Default::default() }).unwrap();
    assert!(matches!(s.engine(), EngineKind::Sync | EngineKind::Uring | EngineKind::Bpf));
    assert!(s.engine_reason().starts_with("auto: "), "{}", s.engine_reason());
    assert!(!s.engine_reason().is_empty());
    assert!(s.is_procfs());
}

#[test]
fn skip_stat_and_omit_cached_flags() {
    use procuring::ScanFlags;
    let mut kids = Kids(vec![Command::new("/bin/sleep").arg("600").spawn().unwrap()]);
    let pid = kids.0[0].id() as i32;
    let mut s = caching_scanner(EngineKind::Sync);
    wait_for(|| {
        let snap = s.scan_pids(&[pid], FileSet::STAT, Default::default()).unwrap();
        snap.get(pid).is_some_and(|r| snap.comm(r) == b"sleep")
    });
    // A second batch over the same pids for identity files: stat is not read again.
    let comm = FileSet::EMPTY.with(ProcFile::Comm);
    let snap = s.scan_pids(&[pid], comm, ScanFlags::SKIP_STAT).unwrap();
    let r = snap.get(pid).unwrap();
    assert!(!r.has(ProcFile::Stat) && r.error(ProcFile::Stat).is_none());
    assert!(r.has(ProcFile::Comm) && r.cached_mask == 0);
    assert_eq!(snap.stats().opened, 1, "only comm was opened");
    // Cached identity left out of the arena: the caller already has it.
    let snap = s
        .scan_pids(&[pid], comm, ScanFlags(ScanFlags::SKIP_STAT.0 | ScanFlags::OMIT_CACHED.0))
        .unwrap();
    let r = snap.get(pid).unwrap();
    assert_eq!((r.read_mask, r.cached_mask, r.comm.len), (0, comm.0, 0));
    assert_eq!((snap.stats().opened, snap.stats().held_reads), (0, 0), "no syscall for this pid");
    // A pid never seen still gets stat (it keys the identity cache).
    let mut s2 = scanner(EngineKind::Sync);
    let snap = s2.scan_pids(&[pid], comm, ScanFlags::SKIP_STAT).unwrap();
    assert!(snap.get(pid).unwrap().has(ProcFile::Stat));
    kids.0[0].kill().unwrap();
}

#[test]
fn threaded_sync_scan_returns_the_same_records() {
    let mut kids =
        Kids((0..200).map(|_| Command::new("/bin/sleep").arg("600").spawn().unwrap()).collect());
    let pids: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    let mut one = scanner(EngineKind::Sync);
    let mut two = Scanner::new(Options {
        engine: EngineKind::Sync,
        files: FileSet::ALL,
        threads: 3,
        max_held_fds: 600,
        ..Default::default()
    })
    .unwrap();
    settle(&mut one, &pids);
    for _ in 0..3 {
        let sa = one.scan_pids(&pids, FileSet::ALL, Default::default()).unwrap();
        let ra: Vec<_> = sa.records().iter().map(|r| comparable(sa, r)).collect();
        let sb = two.scan_pids(&pids, FileSet::ALL, Default::default()).unwrap();
        let rb: Vec<_> = sb.records().iter().map(|r| comparable(sb, r)).collect();
        assert_eq!(ra.len(), 200);
        assert_eq!(rb.len(), 200);
        for (a, b) in ra.iter().zip(&rb) {
            assert_eq!(a.0.pid, b.0.pid);
            assert_eq!(a.0, b.0, "record of pid {}", a.0.pid);
            for (k, (x, y)) in a.1.iter().zip(&b.1).enumerate() {
                assert!(
                    x == y,
                    "pid {} text {k}: {:?} vs {:?}",
                    a.0.pid,
                    String::from_utf8_lossy(x),
                    String::from_utf8_lossy(y)
                );
            }
        }
    }
    assert_eq!(two.held_fds(), one.held_fds());
    kids.0.iter_mut().for_each(|c| drop(c.kill()));
}

#[test]
fn identity_is_reread_after_exec() {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new("/bin/sleep");
    c.arg("600");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            // No PR_SET_PDEATHSIG here: it fires when the forking *thread* exits, which the
            // spawner thread does right after spawn(), killing the child into a zombie.
            libc::raise(libc::SIGSTOP);
            Ok(())
        });
    }
    let spawner = std::thread::Builder::new()
        .name("before-exec".into())
        .spawn(move || c.spawn().unwrap())
        .unwrap();
    let me = std::process::id() as i64;
    let mut s = caching_scanner(EngineKind::Sync);
    let mut pid = 0;
    wait_for(|| {
        let snap = s.scan().unwrap();
        snap.records()
            .iter()
            .find(|r| r.stat.ppid == me && r.state == b'T')
            .map(|r| pid = r.pid)
            .is_some()
    });
    // Read in a scan after the one whose stat first saw it: cached from the next scan on.
    s.scan().unwrap();
    let snap = s.scan().unwrap();
    let r = snap.get(pid).unwrap();
    assert_eq!(snap.comm(r), b"before-exec");
    assert_eq!(
        r.cached_mask & FileSet::IDENTITY.0,
        FileSet::IDENTITY.0,
        "identity cached before exec"
    );
    // SAFETY: our own stopped child.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let _kids = Kids(vec![spawner.join().unwrap()]);
    wait_for(|| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"/bin/sleep\x00600\x00")
    });
    let snap = s.scan().unwrap();
    let r = snap.get(pid).unwrap();
    assert_eq!(snap.bytes(r.stat.comm), b"sleep");
    assert_eq!(snap.comm(r), b"sleep", "a new stat comm invalidates the cached identity");
    assert_eq!(snap.bytes(r.cmdline), b"/bin/sleep\x00600\x00");
    assert_eq!(r.cached_mask, 0);
}

#[test]
fn dropped_scanners_give_back_their_held_budget() {
    let mut kids =
        Kids((0..8).map(|_| Command::new("/bin/sleep").arg("600").spawn().unwrap()).collect());
    let pids: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    // Many scanners of both engines created and dropped: a leak of the process-wide budget
    // would leave later scanners unable to hold anything.
    for round in 0..200 {
        let engine = if round % 2 == 0 { EngineKind::Uring } else { EngineKind::Sync };
        let mut s =
            Scanner::new(Options { engine, max_held_fds: 16, ..Default::default() }).unwrap();
        s.scan_pids(&pids, FileSet::STAT, Default::default()).unwrap();
        assert_eq!(s.held_fds(), 8, "round {round} ({engine:?})");
    }
    kids.0.iter_mut().for_each(|c| drop(c.kill()));
}
