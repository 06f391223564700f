//! Never a stale or wrong value (issue 10): each test reproduces one way the library used to
//! return something procfs would not, on both engines where it applies, and compares the
//! record with what `/proc` shows at that moment. Tests that change process-wide state
//! (rlimits, the fd table, signal handlers, credentials) run in a re-executed child.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use procuring::ffi::*;
use procuring::{EngineKind, FileSet, Options, ProcFile, ScanFlags, Scanner, Snapshot};

mod common;
use common::{skip, sleeper, sleeper_as, Echo, Kids, Reexec};

const CHILD: Reexec = Reexec { var: "EXACT_CHILD", echo: Echo::Split };
const ENGINES: [EngineKind; 2] = [EngineKind::Sync, EngineKind::Uring];
/// comm, cmdline, exe, cgroup: the identity files these tests compare.
const IDENT: FileSet = FileSet(
    1 << ProcFile::Comm as u32
        | 1 << ProcFile::Cmdline as u32
        | 1 << ProcFile::Exe as u32
        | 1 << ProcFile::Cgroup as u32,
);

fn scanner(engine: EngineKind, cache: bool) -> Scanner {
    scanner_aged(engine, cache, 0)
}

fn scanner_aged(engine: EngineKind, cache: bool, max_age_ms: u32) -> Scanner {
    Scanner::new(Options {
        engine,
        files: FileSet::ALL,
        max_held_fds: 100,
        identity_cache: cache,
        identity_max_age_ms: max_age_ms,
        ..Default::default()
    })
    .unwrap()
}

/// What procfs shows of `pid` now: comm (without its newline), cmdline, exe, cgroup.
fn procfs(pid: i32) -> Option<[Vec<u8>; 4]> {
    let rd = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).ok();
    let mut comm = rd("comm")?;
    if comm.last() == Some(&b'\n') {
        comm.pop();
    }
    let exe = match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(p) => p.into_os_string().into_encoded_bytes(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return None,
    };
    Some([comm, rd("cmdline")?, exe, rd("cgroup")?])
}

/// The identity of `pid` in `snap`, as `procfs` gives it.
fn recorded(snap: &Snapshot, pid: i32) -> Option<[Vec<u8>; 4]> {
    let r = snap.get(pid)?;
    for f in IDENT.iter() {
        assert!(r.has(f), "pid {pid}: {} not read: {:?}", f.name(), r.error(f));
    }
    Some([
        snap.comm(r).to_vec(),
        snap.bytes(r.cmdline).to_vec(),
        snap.bytes(r.exe).to_vec(),
        snap.bytes(r.cgroup).to_vec(),
    ])
}

fn show(v: &Option<[Vec<u8>; 4]>) -> String {
    match v {
        None => "none".into(),
        Some(v) => {
            format!("{:?}", v.iter().map(|x| String::from_utf8_lossy(x)).collect::<Vec<_>>())
        }
    }
}

/// Scans `pid` (identity files, with `flags`) and asserts the record equals what procfs showed
/// right before and right after the scan (the tests hold the process still meanwhile).
fn assert_procfs_equal(s: &mut Scanner, pid: i32, flags: ScanFlags, ctx: &str) {
    let before = procfs(pid);
    let snap = s.scan_pids(&[pid], IDENT, flags).unwrap();
    let got = recorded(snap, pid);
    let after = procfs(pid);
    assert_eq!(before, after, "{ctx}: the process changed during the scan");
    assert!(got == before, "{ctx}: pid {pid}: library {} but procfs {}", show(&got), show(&before));
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn cmdline_of(pid: i32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

/// A shell that waits for a line on stdin before it execs `then`.
fn exec_on_newline(then: &str) -> Child {
    Command::new("/bin/sh")
        .args(["-c", &format!("read x; exec {then}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Exec, rename, cgroup move, argv rewrite.

/// A shim that execs a program with the same comm (`sh` execs `sh`): neither the pid, the
/// starttime nor the comm changes, only the exec addresses of `stat`. Checked exactly by
/// default and with the cache (the first scan after the exec must see it).
#[test]
fn same_name_exec_is_seen() {
    for engine in ENGINES {
        for cache in [false, true] {
            let ctx = format!("{engine:?} cache {cache}");
            let mut kids = Kids(vec![exec_on_newline("/bin/sh -c 'read y' second-program")]);
            let pid = kids.0[0].id() as i32;
            let mut s = scanner(engine, cache);
            wait_for("the shim", || cmdline_of(pid).starts_with(b"/bin/sh\0-c\0read x"));
            for i in 0..3 {
                assert_procfs_equal(&mut s, pid, ScanFlags::NONE, &format!("{ctx} before {i}"));
            }
            let cached = s.snapshot().get(pid).unwrap().cached_mask;
            assert_eq!(cached != 0, cache, "{ctx}: cached_mask {cached:#x}");
            writeln!(kids.0[0].stdin.as_mut().unwrap()).unwrap();
            wait_for("the exec", || cmdline_of(pid) == b"/bin/sh\0-c\0read y\0second-program\0");
            assert_procfs_equal(&mut s, pid, ScanFlags::NONE, &format!("{ctx} after exec"));
        }
    }
}

/// The Go package reads `stat` of a listing first, then other files with SKIP_STAT: an
/// identity first read in such a batch must still be checked against the next `stat`.
#[test]
fn exec_after_a_skip_stat_first_read_is_seen() {
    for engine in ENGINES {
        for cache in [false, true] {
            let ctx = format!("{engine:?} cache {cache}");
            let mut kids = Kids(vec![exec_on_newline("/bin/sleep 600")]);
            let pid = kids.0[0].id() as i32;
            let mut s = scanner(engine, cache);
            wait_for("the shell", || cmdline_of(pid).starts_with(b"/bin/sh\0-c\0read x"));
            for i in 0..3 {
                s.scan_pids(&[pid], FileSet::STAT, ScanFlags::NONE).unwrap();
                assert_procfs_equal(&mut s, pid, ScanFlags::SKIP_STAT, &format!("{ctx} {i}"));
            }
            writeln!(kids.0[0].stdin.as_mut().unwrap()).unwrap();
            wait_for("the exec", || cmdline_of(pid) == b"/bin/sleep\x00600\x00");
            let snap = s.scan_pids(&[pid], FileSet::STAT, ScanFlags::NONE).unwrap();
            assert_eq!(snap.bytes(snap.get(pid).unwrap().stat.comm), b"sleep", "{ctx}");
            assert_procfs_equal(&mut s, pid, ScanFlags::SKIP_STAT, &format!("{ctx} after exec"));
        }
    }
}

/// `prctl(PR_SET_NAME)` renames a task without an exec (here a thread of this test, scanned
/// as `/proc/<tid>`, which procfs serves like a process).
#[test]
fn pr_set_name_rename_is_seen() {
    std::thread::spawn(|| {
        // SAFETY: gettid has no arguments.
        let tid = unsafe { libc::gettid() };
        for engine in ENGINES {
            for cache in [false, true] {
                let ctx = format!("{engine:?} cache {cache}");
                let mut s = scanner(engine, cache);
                for (k, name) in [c"procuring-a", c"procuring-b", c"procuring-a"].iter().enumerate()
                {
                    // SAFETY: PR_SET_NAME with a NUL-terminated name renames this thread.
                    assert_eq!(unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) }, 0);
                    for i in 0..2 {
                        assert_procfs_equal(
                            &mut s,
                            tid,
                            ScanFlags::NONE,
                            &format!("{ctx} {k}.{i}"),
                        );
                    }
                    let snap = s.snapshot();
                    assert_eq!(snap.comm(snap.get(tid).unwrap()), name.to_bytes(), "{ctx}");
                }
            }
        }
    })
    .join()
    .unwrap();
}

/// Unmounts a cgroup2 hierarchy this test mounted.
struct Unmount(Option<std::path::PathBuf>);
impl Drop for Unmount {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let c =
                std::ffi::CString::new(p.clone().into_os_string().into_encoded_bytes()).unwrap();
            // SAFETY: a NUL-terminated path this test mounted.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            let _ = std::fs::remove_dir(p);
        }
    }
}

/// A cgroup v2 hierarchy: where one is mounted (mountinfo), or one this test mounts (root).
fn cgroup2() -> Option<(std::path::PathBuf, Unmount)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    for l in info.lines() {
        let (pre, post) = l.split_once(" - ")?;
        if post.split_whitespace().next() == Some("cgroup2") {
            let mnt = pre.split_whitespace().nth(4)?;
            return Some((mnt.into(), Unmount(None)));
        }
    }
    let p = std::env::temp_dir().join(format!("procuring-cg2-{}", std::process::id()));
    std::fs::create_dir_all(&p).ok()?;
    let c = std::ffi::CString::new(p.clone().into_os_string().into_encoded_bytes()).ok()?;
    // SAFETY: NUL-terminated strings; a cgroup2 mount needs no data.
    let r = unsafe {
        libc::mount(c"none".as_ptr(), c.as_ptr(), c"cgroup2".as_ptr(), 0, std::ptr::null())
    };
    if r != 0 {
        let _ = std::fs::remove_dir(&p);
        return None;
    }
    Some((p.clone(), Unmount(Some(p))))
}

/// Moving a process to another cgroup changes its `cgroup` file: seen at once by default, and
/// within the age limit with the cache (the contract: a cgroup move moves no `stat` field).
#[test]
fn cgroup_move_is_seen() {
    let Some((base, _mount)) = cgroup2() else {
        return skip("no cgroup v2 hierarchy mounted, and none could be mounted (not root?)");
    };
    let dir = base.join(format!("procuring-exact-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir(&dir) {
        return skip(format!("cannot create a cgroup under {}: {e}", base.display()));
    }
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            for _ in 0..100 {
                if std::fs::remove_dir(&self.0).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let _rm = Rm(dir.clone());
    for engine in ENGINES {
        for cache in [false, true] {
            let ctx = format!("{engine:?} cache {cache}");
            let kid = Kids(vec![sleeper()]);
            let pid = kid.0[0].id() as i32;
            let mut s = scanner_aged(engine, cache, 50);
            wait_for("sleep", || cmdline_of(pid) == b"/bin/sleep\x00600\x00");
            for i in 0..3 {
                assert_procfs_equal(&mut s, pid, ScanFlags::NONE, &format!("{ctx} {i}"));
            }
            if let Err(e) = std::fs::write(dir.join("cgroup.procs"), pid.to_string()) {
                return skip(format!("cannot move a process into {}: {e}", dir.display()));
            }
            if cache {
                // Not visible through stat: served until the age limit (50 ms) runs out.
                std::thread::sleep(Duration::from_millis(60));
            }
            assert_procfs_equal(&mut s, pid, ScanFlags::NONE, &format!("{ctx} after the move"));
            let cg = s.snapshot().bytes(s.snapshot().get(pid).unwrap().cgroup).to_vec();
            let want = format!("procuring-exact-{}\n", std::process::id());
            assert!(
                cg.ends_with(want.as_bytes()),
                "{ctx}: not moved: {}",
                String::from_utf8_lossy(&cg)
            );
        }
    }
}

/// A process that rewrites its argv in place (setproctitle; perl's `$0` does it): a new
/// cmdline, same comm and exec addresses. Exact by default; within the age with the cache.
#[test]
fn setproctitle_argv_rewrite_is_seen() {
    if !std::path::Path::new("/usr/bin/perl").exists() {
        return skip("no /usr/bin/perl to rewrite its argv");
    }
    for engine in ENGINES {
        for cache in [false, true] {
            let ctx = format!("{engine:?} cache {cache}");
            // The titles share their first 15 bytes, so perl's prctl(PR_SET_NAME) keeps comm.
            let script = r#"$0 = "procuring-title: idle"; $| = 1; print "ready\n";
                while (<STDIN>) { chomp; $0 = "procuring-title: $_"; print "ready\n"; }"#;
            let mut kid = Kids(vec![Command::new("/usr/bin/perl")
                .args(["-e", script])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()]);
            let pid = kid.0[0].id() as i32;
            let mut s = scanner_aged(engine, cache, 50);
            wait_for("the first title", || cmdline_of(pid).starts_with(b"procuring-title: idle"));
            for i in 0..3 {
                assert_procfs_equal(&mut s, pid, ScanFlags::NONE, &format!("{ctx} idle {i}"));
            }
            writeln!(kid.0[0].stdin.as_mut().unwrap(), "busy").unwrap();
            wait_for("the second title", || cmdline_of(pid).starts_with(b"procuring-title: busy"));
            if cache {
                std::thread::sleep(Duration::from_millis(60));
            }
            assert_procfs_equal(&mut s, pid, ScanFlags::NONE, &format!("{ctx} busy"));
        }
    }
}

/// Children polled while they go through fork+exec: a read inside `execve` sees the new comm
/// and exe and an empty cmdline. With the cache on, such a read must never be served later:
/// 20 ms after each exec returned, every child's cmdline is its own.
#[test]
fn exec_window_never_serves_a_cached_empty_cmdline() {
    const N: usize = 100;
    for engine in ENGINES {
        let mut s = scanner(engine, true);
        let spawner = std::thread::spawn(|| {
            let mut kids = Vec::new();
            for _ in 0..N {
                let c = Command::new("/bin/sleep")
                    .arg("600")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap();
                kids.push(c);
            }
            kids
        });
        let me = std::process::id() as i64;
        let mut empty_seen = 0;
        let mut scans = 0;
        while !spawner.is_finished() {
            let snap = s.scan().unwrap();
            scans += 1;
            empty_seen += snap
                .records()
                .iter()
                .filter(|r| r.stat.ppid == me && r.has(ProcFile::Cmdline) && r.cmdline.len == 0)
                .count();
        }
        let kids = Kids(spawner.join().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        for round in 0..2 {
            let snap = s.scan().unwrap();
            for c in &kids.0 {
                let pid = c.id() as i32;
                let r = snap.get(pid).unwrap_or_else(|| panic!("{engine:?}: child {pid} missing"));
                assert_eq!(
                    snap.bytes(r.cmdline),
                    b"/bin/sleep\x00600\x00",
                    "{engine:?} round {round}: pid {pid} (cached_mask {:#x})",
                    r.cached_mask
                );
                assert_eq!(snap.comm(r), b"sleep", "{engine:?}: pid {pid}");
            }
        }
        println!("{engine:?}: {scans} scans during {N} fork+execs; {empty_seen} empty cmdlines seen in the window");
    }
}

// ---------------------------------------------------------------------------------------------
// Transient conditions: never cached, never an abort, never a poisoned scanner.

fn set_rlimit(res: libc::__rlimit_resource_t, soft: u64, hard: Option<u64>) {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(res, &mut r) }, 0);
    r.rlim_cur = soft;
    if let Some(h) = hard {
        r.rlim_max = h;
    }
    // SAFETY: valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(res, &r) }, 0, "setrlimit({res}, {soft})");
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// With the fd table full for one scan, per-scan opens fail with EMFILE; the next scan after
/// the descriptors are freed must read every file again (EMFILE is never cached).
#[test]
fn transient_emfile_is_not_cached() {
    if !CHILD.is_child("transient_emfile_is_not_cached") {
        return CHILD.run_in_child("transient_emfile_is_not_cached", &[], Duration::from_secs(120));
    }
    set_rlimit(libc::RLIMIT_NOFILE, 256, None);
    let kids = Kids((0..20).map(|_| sleeper()).collect());
    let pids: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    for &p in &pids {
        wait_for("sleep", || cmdline_of(p) == b"/bin/sleep\x00600\x00");
    }
    for engine in ENGINES {
        for cache in [false, true] {
            let ctx = format!("{engine:?} cache {cache}");
            let mut s = scanner(engine, cache);
            for _ in 0..3 {
                s.scan_pids(&pids, IDENT, ScanFlags::NONE).unwrap();
            }
            let mut hog = Vec::new();
            while let Ok(f) = std::fs::File::open("/dev/null") {
                hog.push(f);
            }
            let snap = s.scan_pids(&pids, IDENT, ScanFlags::REFRESH_IDENTITY).unwrap();
            let emfile = snap
                .records()
                .iter()
                .filter(|r| r.errors[ProcFile::Comm as usize] == libc::EMFILE)
                .count();
            drop(hog);
            if engine == EngineKind::Sync {
                assert_eq!(emfile, pids.len(), "{ctx}: the full fd table refused comm");
            }
            for &p in &pids {
                assert_procfs_equal(&mut s, p, ScanFlags::NONE, &format!("{ctx} after"));
            }
            println!("{ctx}: {emfile} comm reads refused with EMFILE, all read after");
        }
    }
    println!("CHILD-DONE transient_emfile_is_not_cached");
}

/// `threads = 4` where no thread can be started (RLIMIT_NPROC reached, as in a pod at its
/// `pids.max`): the scan reads on the calling thread, returns the same records, and the
/// process-wide descriptor budget is intact for a later scanner.
#[test]
fn rlimit_nproc_with_threads_scans_on_the_calling_thread() {
    let name = "rlimit_nproc_with_threads_scans_on_the_calling_thread";
    if !CHILD.is_child(name) {
        return CHILD.run_in_child(name, &[], Duration::from_secs(120));
    }
    // Never reaped here; they die with the thread that spawned them (PR_SET_PDEATHSIG). They
    // run as nobody, as this process will: a death signal from nobody to root is refused.
    // SAFETY: geteuid has no preconditions.
    let nobody = (unsafe { libc::geteuid() } == 0).then_some(65534);
    let kids: Vec<Child> = (0..150).map(|_| sleeper_as(nobody)).collect();
    let pids: Vec<i32> = kids.iter().map(|c| c.id() as i32).collect();
    std::mem::forget(kids);
    for &p in &pids {
        wait_for("sleep", || cmdline_of(p) == b"/bin/sleep\x00600\x00");
    }
    // SAFETY: plain syscalls with valid arguments; root ignores RLIMIT_NPROC, nobody does not.
    unsafe {
        if libc::geteuid() == 0 {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(65534), 0);
            assert_eq!(libc::setuid(65534), 0);
        }
    }
    set_rlimit(libc::RLIMIT_NPROC, 1, Some(1));
    if std::thread::Builder::new().spawn(|| ()).is_ok() {
        return skip("RLIMIT_NPROC 1 did not refuse a thread");
    }
    let files = FileSet::STAT.with(ProcFile::Status).with(ProcFile::Comm);
    let opts = |threads| Options { engine: EngineKind::Sync, threads, files, ..Default::default() };
    let mut one = Scanner::new(opts(1)).unwrap();
    let mut four = Scanner::new(opts(4)).unwrap();
    for round in 0..3 {
        let a = one.scan_pids(&pids, files, ScanFlags::NONE).unwrap();
        let ra: Vec<_> =
            a.records().iter().map(|r| (r.pid, a.comm(r).to_vec(), r.read_mask)).collect();
        let b = four
            .scan_pids(&pids, files, ScanFlags::NONE)
            .unwrap_or_else(|e| panic!("round {round}: a refused thread failed the scan: {e}"));
        let rb: Vec<_> =
            b.records().iter().map(|r| (r.pid, b.comm(r).to_vec(), r.read_mask)).collect();
        assert_eq!(ra, rb, "round {round}");
        assert_eq!(ra.len(), pids.len());
    }
    let held = four.held_fds();
    assert_eq!(held, one.held_fds(), "descriptors held by the threaded scanner");
    drop(four);
    drop(one);
    let mut later = Scanner::new(opts(1)).unwrap();
    later.scan_pids(&pids, files, ScanFlags::NONE).unwrap();
    assert_eq!(later.held_fds(), held, "budget given back: a later scanner holds as many");
    println!("CHILD-DONE {name}");
}

extern "C" fn on_signal(_: libc::c_int) {}

/// A signal every 20 us at the scanning thread while io_uring reads (one of them a long
/// cmdline): `io_uring_enter` returns EINTR again and again, and every scan must complete with
/// every record (it used to count EINTR and abort the host after 100,000).
#[test]
fn signal_flood_on_uring_reads_never_aborts() {
    let name = "signal_flood_on_uring_reads_never_aborts";
    if !CHILD.is_child(name) {
        return CHILD.run_in_child(name, &[], Duration::from_secs(120));
    }
    // SAFETY: a handler that does nothing, installed without SA_RESTART (syscalls see EINTR).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let long: Vec<String> = (0..16).map(|i| format!("{i}{}", "x".repeat(60_000))).collect();
    let mut kids = Kids((0..100).map(|_| sleeper()).collect());
    kids.0.push(
        Command::new("/bin/sleep").arg("600").args(&long).stdout(Stdio::null()).spawn().unwrap(),
    );
    let pids: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    let big = *pids.last().unwrap();
    wait_for("the long cmdline", || cmdline_of(big).len() > 900_000);
    let Ok(mut s) = Scanner::new(Options {
        engine: EngineKind::Uring,
        files: FileSet::ALL,
        ..Default::default()
    }) else {
        return skip("io_uring unavailable");
    };
    // SAFETY: gettid has no arguments.
    let tid = unsafe { libc::gettid() };
    let want_early = cmdline_of(big);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let flood = std::thread::spawn(move || {
        let mut sent = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            // SAFETY: tgkill of a live thread of this process with a handled signal.
            unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGUSR1) };
            sent += 1;
            std::thread::sleep(Duration::from_micros(20));
        }
        sent
    });
    let t = Instant::now();
    let mut scans = 0;
    // Read before the flood: this test's own reads of /proc may fail under it.
    let want = want_early;
    while t.elapsed() < Duration::from_secs(3) {
        let snap = s.scan_pids(&pids, FileSet::ALL, ScanFlags::NONE).unwrap();
        assert_eq!(snap.records().len(), pids.len());
        for r in snap.records() {
            assert!(r.has(ProcFile::Stat) && r.has(ProcFile::Status), "pid {}", r.pid);
        }
        // Not compared: a read of another process's memory (cmdline) that a signal interrupts
        // returns what it had read so far, as it does for procfs; only its length is known.
        assert!(snap.get(big).unwrap().cmdline.len as usize <= want.len());
        scans += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.join().unwrap();
    println!("{scans} uring scans under {sent} signals");
    println!("CHILD-DONE {name}");
}

/// Many scanners at a low RLIMIT_NOFILE: every descriptor they keep (held files, proc roots,
/// fork-counter files, rings) counts against half the soft limit, so the host's own `open()`
/// keeps working.
#[test]
fn many_scanners_at_a_low_nofile_leave_the_host_its_descriptors() {
    let name = "many_scanners_at_a_low_nofile_leave_the_host_its_descriptors";
    if !CHILD.is_child(name) {
        return CHILD.run_in_child(name, &[], Duration::from_secs(120));
    }
    set_rlimit(libc::RLIMIT_NOFILE, 256, None);
    let kids = Kids((0..30).map(|_| sleeper()).collect());
    let pids: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    let files = FileSet::STAT.with(ProcFile::Status).with(ProcFile::Io);
    let mut scanners = Vec::new();
    let mut refused = 0;
    for k in 0..80 {
        let engine = if k % 4 == 3 { EngineKind::Uring } else { EngineKind::Sync };
        match Scanner::new(Options { engine, files, ..Default::default() }) {
            Ok(mut s) => {
                s.scan_pids(&pids, files, ScanFlags::NONE).unwrap();
                scanners.push(s);
            }
            // No room left in the budget for its own descriptors.
            Err(procuring::Error::Root { errno: libc::EMFILE, .. }) => refused += 1,
            Err(procuring::Error::UringUnavailable(_)) => {}
            Err(e) => panic!("scanner {k}: {e}"),
        }
    }
    println!("{refused} scanners refused with EMFILE");
    let kept: u32 = scanners.iter().map(|s| s.held_fds() + s.base_fds()).sum();
    println!("{} scanners keep {kept} descriptors; {} fds open", scanners.len(), fd_count());
    assert!(kept <= 128, "{kept} descriptors kept, more than half of 256");
    let host: Vec<_> = (0..64)
        .map(|i| {
            std::fs::File::open("/dev/null").unwrap_or_else(|e| panic!("host open {i} failed: {e}"))
        })
        .collect();
    for s in &mut scanners {
        s.scan_pids(&pids, files, ScanFlags::NONE).unwrap();
    }
    drop(host);
    println!("CHILD-DONE {name}");
}

/// One scanner used from 4 threads at once through the C ABI (documented misuse): each call
/// either runs or returns PROCURING_ERR_BUSY; nothing panics, hangs or leaks.
#[test]
fn concurrent_misuse_returns_busy() {
    let name = "concurrent_misuse_returns_busy";
    if !CHILD.is_child(name) {
        return CHILD.run_in_child(name, &[], Duration::from_secs(120));
    }
    let fds = fd_count();
    let mut s = std::ptr::null_mut();
    // SAFETY: NULL options are the defaults; `s` is a live out-pointer.
    assert_eq!(unsafe { procuring_scanner_new(std::ptr::null(), &mut s) }, PROCURING_OK);
    struct Ptr(*mut procuring_scanner);
    // SAFETY: the point of the test: the handle is shared on purpose; the library must cope.
    unsafe impl Sync for Ptr {}
    let p = Ptr(s);
    let t = Instant::now();
    let busy = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                while busy.load(std::sync::atomic::Ordering::Relaxed) < 20
                    && t.elapsed() < Duration::from_secs(20)
                {
                    let p = &p;
                    // SAFETY: a live handle (freed after the scope).
                    let code = unsafe { procuring_scan(p.0) };
                    let mut snap = std::mem::MaybeUninit::uninit();
                    // SAFETY: as above; `snap` is writable.
                    let code2 = unsafe { procuring_snapshot_get(p.0, snap.as_mut_ptr()) };
                    for c in [code, code2] {
                        assert!(c == PROCURING_OK || c == PROCURING_ERR_BUSY, "code {c}");
                        if c == PROCURING_ERR_BUSY {
                            busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let busy = busy.into_inner();
    assert!(busy >= 20, "only {busy} calls saw the scanner busy in 20 s");
    // SAFETY: a live handle, used by nobody else now.
    assert_eq!(unsafe { procuring_scan(s) }, PROCURING_OK, "still usable");
    // SAFETY: freed once.
    unsafe { procuring_scanner_free(s) };
    assert_eq!(fd_count(), fds, "every descriptor closed");
    println!("{busy} calls returned PROCURING_ERR_BUSY");
    println!("CHILD-DONE {name}");
}

/// A proc root that is not procfs, with FIFOs named `stat` and `cmdline`: files are opened
/// non-blocking, so the scan returns (with per-file errors) instead of hanging.
#[test]
fn fifo_root_does_not_hang() {
    let name = "fifo_root_does_not_hang";
    if !CHILD.is_child(name) {
        return CHILD.run_in_child(name, &[], Duration::from_secs(30));
    }
    let root = std::env::temp_dir().join(format!("procuring-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("123")).unwrap();
    std::fs::create_dir_all(root.join("124")).unwrap();
    for f in ["123/stat", "124/cmdline"] {
        let p = std::ffi::CString::new(root.join(f).into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(p.as_ptr(), 0o600) }, 0);
    }
    std::fs::write(root.join("124/stat"), std::fs::read("/proc/self/stat").unwrap()).unwrap();
    for engine in ENGINES {
        let Ok(mut s) = Scanner::new(Options {
            engine,
            proc_root: root.clone(),
            files: FileSet::ALL,
            ..Default::default()
        }) else {
            continue;
        };
        for _ in 0..2 {
            let snap = s.scan().unwrap();
            assert!(snap.get(123).is_none_or(|r| !r.has(ProcFile::Stat)), "{engine:?}");
            let r = snap.get(124).unwrap();
            assert!(r.has(ProcFile::Stat), "{engine:?}");
            assert!(!r.has(ProcFile::Cmdline) || r.cmdline.len == 0, "{engine:?}");
        }
        println!("{engine:?}: returned");
    }
    let _ = std::fs::remove_dir_all(&root);
    println!("CHILD-DONE {name}");
}

/// `uring_iowq_workers` above INT_MAX is an invalid argument, not "kernel too old".
#[test]
fn iowq_workers_above_int_max_is_an_invalid_argument() {
    let mut o = Options { engine: EngineKind::Uring, ..Default::default() };
    o.uring.async_reads = true;
    o.uring.iowq_workers = u32::MAX;
    match Scanner::new(o) {
        Err(procuring::Error::InvalidArgument(m)) => assert!(m.contains("INT_MAX"), "{m}"),
        other => panic!("expected an invalid argument, got {other:?}"),
    }
}
