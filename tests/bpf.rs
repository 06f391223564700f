//! The `bpf` engine against `/proc/<pid>/stat`: fidelity (stopped, running, multi-threaded,
//! exited threads, zombies, kernel threads), refusal in a pid namespace and without
//! capabilities, the checked-in object's freshness, fd leaks and churn. Parts that need root
//! (CAP_BPF + CAP_PERFMON) skip with the reason when it is missing.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{skip, Echo, Kids, Reexec};
use procuring::{
    EngineKind, FileSet, Options, ProcFile, ProcRecord, Scanner, Snapshot, StatFields,
    EXTRA_RUNTIME_NS, STAT_UNSET_CODE_ADDRS,
};

const REEXEC: Reexec = Reexec { var: "PROCURING_BPF_TEST_CHILD", echo: Echo::Together };

fn bpf_opts() -> Options {
    Options { engine: EngineKind::Bpf, files: FileSet::STAT, ..Options::default() }
}

/// A bpf scanner, or None (the test skips, saying why) when this process cannot load it.
fn bpf_scanner() -> Option<Scanner> {
    match Scanner::new(bpf_opts()) {
        Ok(s) => Some(s),
        Err(e) => {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } == 0 {
                panic!("bpf engine failed to load as root: {e}");
            }
            skip(format!("bpf engine unavailable (not root): {e}"));
            None
        }
    }
}

/// `/proc/<pid>/stat` parsed: (state, comm, fields), or None when gone.
fn proc_stat(pid: i32) -> Option<(u8, Vec<u8>, StatFields)> {
    let text = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let mut f = StatFields::default();
    let (comm, state) = procuring::parse::stat::parse_with_state(&text, &mut f).ok()?;
    Some((state, comm.to_vec(), f))
}

/// The fields of `a` and `b` that differ, by name (comm excluded: compared as text).
fn diff(a: &StatFields, b: &StatFields, ignore: &[&str]) -> Vec<String> {
    let pairs: [(&str, i128, i128); 30] = [
        ("ppid", a.ppid as i128, b.ppid as i128),
        ("pgrp", a.pgrp as i128, b.pgrp as i128),
        ("session", a.session as i128, b.session as i128),
        ("tty", a.tty as i128, b.tty as i128),
        ("tpgid", a.tpgid as i128, b.tpgid as i128),
        ("flags", a.flags as i128, b.flags as i128),
        ("minflt", a.minflt as i128, b.minflt as i128),
        ("cminflt", a.cminflt as i128, b.cminflt as i128),
        ("majflt", a.majflt as i128, b.majflt as i128),
        ("cmajflt", a.cmajflt as i128, b.cmajflt as i128),
        ("utime", a.utime as i128, b.utime as i128),
        ("stime", a.stime as i128, b.stime as i128),
        ("cutime", a.cutime as i128, b.cutime as i128),
        ("cstime", a.cstime as i128, b.cstime as i128),
        ("priority", a.priority as i128, b.priority as i128),
        ("nice", a.nice as i128, b.nice as i128),
        ("num_threads", a.num_threads as i128, b.num_threads as i128),
        ("starttime", a.starttime as i128, b.starttime as i128),
        ("vsize", a.vsize as i128, b.vsize as i128),
        ("rss", a.rss as i128, b.rss as i128),
        ("rsslim", a.rsslim as i128, b.rsslim as i128),
        ("startcode", a.startcode as i128, b.startcode as i128),
        ("endcode", a.endcode as i128, b.endcode as i128),
        ("startstack", a.startstack as i128, b.startstack as i128),
        ("processor", a.processor as i128, b.processor as i128),
        ("rt_priority", a.rt_priority as i128, b.rt_priority as i128),
        ("policy", a.policy as i128, b.policy as i128),
        ("delayacct_blkio_ticks", a.delayacct_blkio_ticks as i128, b.delayacct_blkio_ticks as i128),
        ("guest_time", a.guest_time as i128, b.guest_time as i128),
        ("cguest_time", a.cguest_time as i128, b.cguest_time as i128),
    ];
    pairs
        .iter()
        .filter(|(n, x, y)| x != y && !ignore.contains(n))
        .map(|(n, x, y)| format!("{n}: bpf {x} /proc {y}"))
        .collect()
}

/// Compares the record of `pid` with `/proc/<pid>/stat`, every field; `ignore` names fields
/// allowed to differ. Returns the differences (empty: equal), or None when the pid is gone.
fn compare(snap: &Snapshot, r: &ProcRecord, ignore: &[&str]) -> Option<Vec<String>> {
    let (state, comm, f) = proc_stat(r.pid)?;
    let mut d = diff(&r.stat, &f, ignore);
    if r.state != state && !ignore.contains(&"state") {
        d.push(format!("state: bpf {} /proc {}", r.state as char, state as char));
    }
    if snap.bytes(r.stat.comm) != comm.as_slice() {
        d.push(format!(
            "comm: bpf {:?} /proc {:?}",
            String::from_utf8_lossy(snap.bytes(r.stat.comm)),
            String::from_utf8_lossy(&comm)
        ));
    }
    Some(d)
}

/// The fields `compare` must ignore in `r`: the code addresses the walk could not give
/// (`STAT_UNSET_CODE_ADDRS`: no CAP_SYS_PTRACE).
fn unset_code_addrs(r: &ProcRecord) -> &'static [&'static str] {
    if r.stat_unset & STAT_UNSET_CODE_ADDRS != 0 {
        &["startcode", "endcode", "startstack"]
    } else {
        &[]
    }
}

fn stopped_sleepers(n: usize) -> Kids {
    let kids = Kids((0..n).map(|_| common::sleeper()).collect());
    for c in &kids.0 {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGSTOP) };
    }
    // Wait until each shows T.
    for c in &kids.0 {
        for _ in 0..200 {
            if proc_stat(c.id() as i32).is_some_and(|(s, _, _)| s == b'T') {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    kids
}

#[test]
fn object_is_fresh() {
    // The checked-in object records the sha256 of the source it was built from.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf");
    let src = std::fs::read(format!("{dir}/procuring.bpf.c")).unwrap();
    let recorded = std::fs::read_to_string(format!("{dir}/procuring.bpf.o.sha256")).unwrap();
    let out = Command::new("sha256sum")
        .arg(format!("{dir}/procuring.bpf.c"))
        .output()
        .expect("sha256sum");
    let now = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string();
    assert!(!src.is_empty());
    assert_eq!(
        recorded.split_whitespace().next().unwrap(),
        now,
        "bpf/procuring.bpf.o is stale: run `make bpf` and commit the object"
    );
}

#[test]
fn stopped_processes_every_field_equal() {
    let Some(mut s) = bpf_scanner() else { return };
    assert_eq!(s.engine(), EngineKind::Bpf);
    let kids = stopped_sleepers(20);
    let snap = s.scan().unwrap();
    for c in &kids.0 {
        let r = snap.get(c.id() as i32).expect("stopped child in the walk");
        assert!(r.has(ProcFile::Stat));
        assert_eq!(r.extra_mask & EXTRA_RUNTIME_NS, EXTRA_RUNTIME_NS);
        let d = compare(snap, r, unset_code_addrs(r)).expect("child alive");
        assert!(d.is_empty(), "pid {}: {d:?}", r.pid);
        assert_eq!(r.state, b'T');
    }
}

/// Numeric fields of `stat` that only grow.
const COUNTERS: [&str; 10] = [
    "minflt",
    "cminflt",
    "majflt",
    "cmajflt",
    "utime",
    "stime",
    "cutime",
    "cstime",
    "guest_time",
    "delayacct_blkio_ticks",
];

type ProcText = (u8, Vec<u8>, StatFields);

/// Checks `/proc/<pid>/stat` (`p`) read between two BPF scans `a` and `b`: every field equal
/// to its value in `a` or in `b`, counters between them (one tick of slack for CPU times: the
/// walk does not see the not-yet-accounted runtime of a task running on another CPU).
fn bracketed(
    (sa, a): (&Snapshot, &ProcRecord),
    (sb, b): (&Snapshot, &ProcRecord),
    p: &ProcText,
    ignore: &[&str],
) -> Vec<String> {
    let (state, comm, f) = p;
    let da = diff(&a.stat, f, ignore);
    let db = diff(&b.stat, f, ignore);
    let name = |d: &String| d.split(':').next().unwrap().to_string();
    let nb: Vec<String> = db.iter().map(name).collect();
    let get = |s: &StatFields, n: &str| -> i128 {
        match n {
            "minflt" => s.minflt as i128,
            "cminflt" => s.cminflt as i128,
            "majflt" => s.majflt as i128,
            "cmajflt" => s.cmajflt as i128,
            "utime" => s.utime as i128,
            "stime" => s.stime as i128,
            "cutime" => s.cutime as i128,
            "cstime" => s.cstime as i128,
            "guest_time" => s.guest_time as i128,
            _ => s.delayacct_blkio_ticks as i128,
        }
    };
    let mut bad = Vec::new();
    for d in &da {
        let n = name(d);
        if !nb.contains(&n) {
            continue; // equal to b
        }
        if COUNTERS.contains(&n.as_str()) {
            let slack = if n == "utime" || n == "stime" { 1 } else { 0 };
            let (lo, hi, v) = (get(&a.stat, &n), get(&b.stat, &n), get(f, &n));
            if v + slack >= lo && v <= hi + slack {
                continue;
            }
        }
        bad.push(d.clone());
    }
    if *state != a.state && *state != b.state && !ignore.contains(&"state") {
        bad.push(format!(
            "state: bpf {}/{} /proc {}",
            a.state as char, b.state as char, *state as char
        ));
    }
    if sa.bytes(a.stat.comm) != comm.as_slice() && sb.bytes(b.stat.comm) != comm.as_slice() {
        bad.push(format!(
            "comm: bpf {:?} /proc {:?}",
            String::from_utf8_lossy(sb.bytes(b.stat.comm)),
            String::from_utf8_lossy(comm)
        ));
    }
    let total = (f.utime + f.stime) as i64;
    if total + 1 < a.cpu_ticks() as i64 || total > b.cpu_ticks() as i64 + 1 {
        bad.push(format!("cpu total: bpf {}..{} /proc {total}", a.cpu_ticks(), b.cpu_ticks()));
    }
    bad
}

/// Two BPF scans around reads of `/proc/<pid>/stat` of `pids` (every process if empty);
/// returns the differences the bracketing cannot explain, and how many pids were compared.
fn check_bracketed(pids: &[i32], ignore: &[&str]) -> Option<(Vec<String>, usize)> {
    let mut s1 = bpf_scanner()?;
    let mut s2 = Scanner::new(bpf_opts()).unwrap();
    let a = s1.scan().unwrap();
    let todo: Vec<i32> =
        if pids.is_empty() { a.records().iter().map(|r| r.pid).collect() } else { pids.to_vec() };
    let texts: Vec<_> = todo.iter().map(|&p| (p, proc_stat(p))).collect();
    let b = s2.scan().unwrap();
    let mut bad = Vec::new();
    let mut n = 0;
    for (pid, t) in texts {
        let (Some(ra), Some(rb), Some(t)) = (a.get(pid), b.get(pid), t) else { continue };
        n += 1;
        let d = bracketed((a, ra), (b, rb), &t, ignore);
        if !d.is_empty() {
            bad.push(format!("{pid} {d:?}"));
        }
    }
    Some((bad, n))
}

#[test]
fn whole_system_matches_proc() {
    // Every process on the machine, /proc read between two BPF scans. Code addresses and the
    // processor may change without a trace in counters (exec, migration): ignored here.
    let ignore = ["processor", "startcode", "endcode", "startstack"];
    let Some((mut bad, n)) = check_bracketed(&[], &ignore) else {
        return;
    };
    println!("compared {n} processes");
    // A process in the middle of an exec (its new mm filling: vsize, rss) or of its exit
    // differs from both scans for an instant: compared again, only what persists counts.
    for _ in 0..3 {
        if bad.is_empty() {
            break;
        }
        println!("again: {bad:?}");
        let pids: Vec<i32> =
            bad.iter().filter_map(|d| d.split_whitespace().next()?.parse().ok()).collect();
        bad = check_bracketed(&pids, &ignore).unwrap().0;
    }
    assert!(n > 10);
    assert!(bad.len() <= n / 100, "{} of {n} differ:\n{}", bad.len(), bad.join("\n"));
    let mut s = bpf_scanner().unwrap();
    // Listed before the scan: a process listed then and alive after it was alive during it.
    let mut listed: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    listed.sort_unstable();
    let snap = s.scan().unwrap();
    let walked: Vec<i32> = snap.records().iter().map(|r| r.pid).collect();
    assert!(walked.windows(2).all(|w| w[0] < w[1]), "pids ascending, unique");
    // Every process /proc listed and that still exists is in the walk.
    let missing: Vec<&i32> = listed
        .iter()
        .filter(|&&p| walked.binary_search(&p).is_err() && proc_stat(p).is_some())
        .collect();
    assert!(missing.is_empty(), "missing from the walk: {missing:?}");
}

/// Child body: `PROCURING_BPF_SPIN=<threads>:<mode>` spins `threads` threads forever
/// (`mode` = `run`), or lets them burn ~100 ms of CPU and exit, then stops itself (`exit`).
#[test]
#[ignore]
fn spinner_child() {
    let Ok(v) = std::env::var("PROCURING_BPF_SPIN") else { return };
    let (n, mode) = v.split_once(':').unwrap();
    let n: usize = n.parse().unwrap();
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // Spins until this thread has used `ms` of CPU (0: forever).
    let spin = |ms: u64| {
        let cpu = || {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: valid out pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
        };
        let mut x = 0u64;
        while ms == 0 || cpu() < ms {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    };
    if mode == "run" {
        for _ in 1..n {
            std::thread::spawn(move || spin(0));
        }
        spin(0);
    } else {
        let hs: Vec<_> = (0..n).map(|_| std::thread::spawn(move || spin(100))).collect();
        for h in hs {
            h.join().unwrap();
        }
        spin(30);
        // SAFETY: raise(2) on ourselves.
        unsafe { libc::raise(libc::SIGSTOP) };
        std::thread::sleep(Duration::from_secs(600));
    }
}

fn spawn_spinner(threads: usize, mode: &str) -> Kids {
    let c = Command::new(std::env::current_exe().unwrap())
        .args(["spinner_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("PROCURING_BPF_SPIN", format!("{threads}:{mode}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Kids(vec![c])
}

fn wait_for(pid: i32, f: impl Fn(&ProcText) -> bool) {
    for _ in 0..1000 {
        if proc_stat(pid).is_some_and(|t| f(&t)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} never reached the expected state");
}

#[test]
fn running_processes_single_and_multi_threaded() {
    for threads in [1, 4] {
        let kids = spawn_spinner(threads, "run");
        let pid = kids.0[0].id() as i32;
        wait_for(pid, |t| t.2.num_threads >= threads as i64 && t.2.utime + t.2.stime >= 10);
        for _ in 0..5 {
            let Some((bad, n)) = check_bracketed(&[pid], &[]) else { return };
            assert_eq!(n, 1);
            assert!(bad.is_empty(), "{threads} threads: {bad:?}");
        }
    }
}

#[test]
fn exited_threads_then_stopped_every_field_equal() {
    let Some(mut s) = bpf_scanner() else { return };
    let kids = spawn_spinner(3, "exit");
    let pid = kids.0[0].id() as i32;
    wait_for(pid, |t| t.0 == b'T');
    let snap = s.scan().unwrap();
    let r = snap.get(pid).unwrap();
    let d = compare(snap, r, &[]).unwrap();
    assert!(d.is_empty(), "{d:?}");
    assert!(r.cpu_ticks() >= 25, "exited threads' CPU counted: {}", r.cpu_ticks());
    assert!(r.stat.num_threads <= 2, "the spinning threads exited");
    assert!(r.runtime_ns >= r.cpu_ticks() * 10_000_000);
    // utime and stime are truncated to ticks separately: their sum may lose up to 2 ticks.
    assert!(r.runtime_ns < (r.cpu_ticks() + 2) * 10_000_000);
}

#[test]
fn zombie_every_field_equal() {
    let Some(mut s) = bpf_scanner() else { return };
    // The subshell exits at once; its parent became `sleep`, which never reaps it.
    let c = Command::new("/bin/sh")
        .args(["-c", "/bin/true & exec /bin/sleep 600"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let kids = Kids(vec![c]);
    let parent = kids.0[0].id() as i32;
    let mut zombie = None;
    for _ in 0..500 {
        let kids_of = std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
            .unwrap_or_default();
        if let Some(z) = kids_of.split_whitespace().next().and_then(|p| p.parse::<i32>().ok()) {
            if proc_stat(z).is_some_and(|t| t.0 == b'Z') {
                zombie = Some(z);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let z = zombie.expect("a zombie child");
    let snap = s.scan().unwrap();
    let r = snap.get(z).expect("zombie in the walk");
    assert_eq!(r.state, b'Z');
    let d = compare(snap, r, &[]).unwrap();
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(r.stat.vsize, 0);
}

#[test]
fn kernel_threads_and_workqueue_comm() {
    let Some(mut s) = bpf_scanner() else { return };
    let snap = s.scan().unwrap();
    let kthreads: Vec<i32> =
        snap.records().iter().filter(|r| r.pid == 2 || r.stat.ppid == 2).map(|r| r.pid).collect();
    assert!(kthreads.len() > 5);
    let Some((bad, n)) = check_bracketed(&kthreads, &["processor"]) else { return };
    assert!(n > 5);
    // A workqueue worker's comm names the work it last ran, which can change between the
    // reads: one such change is allowed per run.
    let other: Vec<_> = bad.iter().filter(|d| !d.contains("kworker")).collect();
    assert!(other.is_empty(), "{bad:?}");
    assert!(bad.len() <= 2, "{bad:?}");
    let any_kworker =
        snap.records().iter().any(|r| snap.bytes(r.stat.comm).starts_with(b"kworker/"));
    assert!(any_kworker);
    // A worker's name is read from /proc again only when the walk shows its pool, its
    // running work or its desc changed: most are idle between two walks.
    let workers = snap.records().iter().filter(|r| r.stat.flags & 0x20 != 0).count() as u32;
    let mut reads = Vec::new();
    for _ in 0..5 {
        reads.push(s.scan().unwrap().stats().held_reads);
    }
    println!("{workers} workqueue workers; reads per walk {reads:?}");
    assert!(workers > 0);
    assert!(reads.iter().min().unwrap() < &workers, "{workers} workers, reads {reads:?}");
}

#[test]
fn refused_inside_a_pid_namespace() {
    if REEXEC.is_child("refused_inside_a_pid_namespace") {
        let e = Scanner::new(bpf_opts()).unwrap_err().to_string();
        assert!(e.contains("pid namespace"), "{e}");
        let a = Scanner::new(Options { engine: EngineKind::Auto, ..bpf_opts() }).unwrap();
        assert_eq!(a.engine(), EngineKind::Sync);
        assert!(a.engine_reason().contains("pid namespace"), "{}", a.engine_reason());
        println!("CHILD-DONE refused_inside_a_pid_namespace");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("needs root for unshare --pid");
    }
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(std::env::current_exe().unwrap())
        .args(["refused_inside_a_pid_namespace", "--exact", "--nocapture", "--test-threads=1"])
        .env(REEXEC.var, "refused_inside_a_pid_namespace")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("CHILD-DONE refused_inside_a_pid_namespace"), "{text}");
}

#[test]
fn without_capabilities_forced_bpf_fails_and_auto_is_sync() {
    if REEXEC.is_child("without_capabilities_forced_bpf_fails_and_auto_is_sync") {
        let e = Scanner::new(bpf_opts()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("CAP_BPF"), "{msg}");
        println!("forced bpf: {msg}");
        let a = Scanner::new(Options { engine: EngineKind::Auto, ..bpf_opts() }).unwrap();
        assert_eq!(a.engine(), EngineKind::Sync);
        let why = a.engine_reason();
        assert!(why.contains("bpf unavailable") && why.contains("CAP_BPF"), "{why}");
        println!("auto: {why}");
        println!("CHILD-DONE without_capabilities_forced_bpf_fails_and_auto_is_sync");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root: the capabilities are already missing (checked by other tests)");
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--bounding-set=-bpf,-perfmon,-sys_admin", "--inh-caps=-all", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "without_capabilities_forced_bpf_fails_and_auto_is_sync",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(REEXEC.var, "without_capabilities_forced_bpf_fails_and_auto_is_sync");
    let _ = CommandExt::arg0(&mut cmd, "setpriv");
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("CHILD-DONE"), "{text}");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn no_fd_leak_and_churn() {
    // In a process of its own: other tests open descriptors concurrently.
    if !REEXEC.is_child("no_fd_leak_and_churn") {
        if bpf_scanner().is_some() {
            REEXEC.run_in_child("no_fd_leak_and_churn", &[], Duration::from_secs(120));
        }
        return;
    }
    let Some(s) = bpf_scanner() else { return };
    drop(s);
    let before = open_fds();
    for _ in 0..5 {
        let mut s = Scanner::new(bpf_opts()).unwrap();
        s.scan().unwrap();
    }
    assert_eq!(open_fds(), before, "descriptors leaked by create/scan/drop");
    let mut s = Scanner::new(bpf_opts()).unwrap();
    for round in 0..20 {
        let kids = Kids((0..20).map(|_| common::sleeper()).collect());
        let snap = s.scan().unwrap();
        for k in &kids.0 {
            assert!(snap.get(k.id() as i32).is_some(), "round {round}: child missing");
        }
        let pids: Vec<i32> = snap.records().iter().map(|r| r.pid).collect();
        assert!(pids.windows(2).all(|w| w[0] < w[1]));
        drop(kids);
        let snap = s.scan().unwrap();
        assert!(snap.records().iter().all(|r| r.has(ProcFile::Stat)));
    }
    let fds = open_fds();
    drop(s);
    assert!(open_fds() <= fds);
    assert_eq!(open_fds(), before);
    println!("CHILD-DONE no_fd_leak_and_churn");
}

#[test]
fn scan_pids_walks_for_many_and_reads_a_few() {
    let Some(mut s) = bpf_scanner() else { return };
    let kids = stopped_sleepers(3);
    let few: Vec<i32> = kids.0.iter().map(|c| c.id() as i32).collect();
    let all: Vec<i32> = s.scan().unwrap().records().iter().map(|r| r.pid).collect();
    // (pids, expect the walk): a few are read through sync (a walk visits every process);
    // most of the processes come from one walk.
    for (pids, walked) in [(few.clone(), false), (all, true)] {
        let mut ask = pids.clone();
        ask.push(i32::MAX - 1); // no such process
        let snap = s.scan_pids(&ask, FileSet::STAT, procuring::ScanFlags::NONE).unwrap();
        assert_eq!(snap.stats().vanished as usize, ask.len() - snap.records().len());
        assert!(snap.stats().vanished >= 1);
        for &p in &few {
            let r = snap.get(p).expect("a stopped child");
            let from_walk = r.extra_mask & EXTRA_RUNTIME_NS != 0;
            assert_eq!(from_walk, walked, "{} pids asked", ask.len());
            let d = compare(snap, r, &[]).unwrap();
            let d: Vec<_> = d
                .into_iter()
                .filter(|x| !x.starts_with("start") && !x.starts_with("end"))
                .collect();
            assert!(d.is_empty(), "{d:?}");
        }
    }
}

#[test]
fn auto_picks_bpf_when_it_loads() {
    let Some(forced) = bpf_scanner() else { return };
    let a = Scanner::new(Options { engine: EngineKind::Auto, ..bpf_opts() }).unwrap();
    assert_eq!(a.engine(), EngineKind::Bpf, "{}", a.engine_reason());
    assert!(a.engine_reason().starts_with("auto: bpf"), "{}", a.engine_reason());
    // One program per process: the second scanner shares the first one's load.
    assert_eq!(a.bpf_load_ns(), forced.bpf_load_ns());
    // A directory that is not procfs: auto says why it did not walk.
    let dir = std::env::temp_dir();
    let f =
        Scanner::new(Options { engine: EngineKind::Auto, proc_root: dir, ..bpf_opts() }).unwrap();
    assert_eq!(f.engine(), EngineKind::Sync);
    assert!(f.engine_reason().contains("not a procfs"), "{}", f.engine_reason());
}

#[test]
fn scans_of_more_files_take_stat_and_the_pid_list_from_the_walk() {
    let Some(mut s) = bpf_scanner() else { return };
    let kids = stopped_sleepers(5);
    let mut sync = Scanner::new(Options { engine: EngineKind::Sync, ..bpf_opts() }).unwrap();
    let pids = |s: &mut Scanner| -> Vec<i32> {
        s.scan().unwrap().records().iter().map(|r| r.pid).collect()
    };
    for round in 0..3 {
        let before = pids(&mut sync);
        let snap = s.scan_with(FileSet::ALL, procuring::ScanFlags::NONE).unwrap();
        for c in &kids.0 {
            let r = snap.get(c.id() as i32).expect("stopped child");
            assert_eq!(r.extra_mask & EXTRA_RUNTIME_NS, EXTRA_RUNTIME_NS, "stat from the walk");
            for f in [ProcFile::Stat, ProcFile::Status, ProcFile::Io, ProcFile::Cmdline] {
                assert!(r.has(f), "round {round}: {f:?} {:?}", r.errors);
            }
            assert_eq!(r.status.tgid, r.pid as i64);
            assert_eq!(snap.comm(r), b"sleep");
            let d = compare(snap, r, unset_code_addrs(r)).expect("child alive");
            assert!(d.is_empty(), "pid {}: {d:?}", r.pid);
        }
        // Every process a sync listing shows before and after is in the walk.
        let walked: Vec<i32> = snap.records().iter().map(|r| r.pid).collect();
        let after = pids(&mut sync);
        let missing: Vec<_> = before
            .iter()
            .filter(|p| after.binary_search(p).is_ok() && walked.binary_search(p).is_err())
            .collect();
        assert!(missing.is_empty(), "round {round}: listed, not walked: {missing:?}");
    }
    // Stat-only scans after it (the second rewrites the first's records in place) carry
    // nothing of the other files.
    for _ in 0..2 {
        let snap = s.scan().unwrap();
        for r in snap.records() {
            assert_eq!(r.read_set(), FileSet::STAT, "pid {}", r.pid);
            assert_eq!(r.errors, [0; procuring::FILE_COUNT]);
            assert_eq!((r.status.tgid, r.io.rchar, r.cmdline.len), (0, 0, 0));
        }
        for c in &kids.0 {
            let r = snap.get(c.id() as i32).expect("stopped child");
            assert_eq!(compare(snap, r, unset_code_addrs(r)), Some(vec![]));
        }
    }
    // A child gone between two scans is gone from the next, its held descriptors released.
    let gone = kids.0[0].id() as i32;
    drop(kids);
    let snap = s.scan_with(FileSet::ALL, procuring::ScanFlags::NONE).unwrap();
    assert!(snap.get(gone).is_none());
}

/// `walk_stat_into` (C: `procuring_walk_stat`): for stopped children, the same pid, state and
/// stat (comm included) as a scan; arrays too small get the first processes and the count
/// needed; other engines are refused.
#[test]
fn walk_into_arrays_equals_scan() {
    use procuring::StatHead;
    let Some(mut s) = bpf_scanner() else { return };
    let kids = stopped_sleepers(20);
    let scan: Vec<(i32, u8, StatFields, Vec<u8>)> = {
        let snap = s.scan().unwrap();
        snap.records()
            .iter()
            .map(|r| (r.pid, r.state, r.stat, snap.bytes(r.stat.comm).to_vec()))
            .collect()
    };
    let n = scan.len() + 64;
    let mut heads = vec![StatHead::default(); n];
    let mut stats = vec![StatFields::default(); n];
    let w = s.walk_stat_into(&mut heads, &mut stats).unwrap();
    let (count, arena) = (w.count, w.arena.to_vec());
    assert!(count <= n && count > 20, "{count} processes");
    let text =
        |f: &StatFields| arena[f.comm.off as usize..(f.comm.off + f.comm.len) as usize].to_vec();
    for c in &kids.0 {
        let pid = c.id() as i32;
        let k = heads[..count].iter().position(|h| h.pid == pid).expect("child in the walk");
        let (_, state, st, comm) = scan.iter().find(|r| r.0 == pid).expect("child in the scan");
        assert_eq!(heads[k].state, *state);
        assert_eq!(heads[k].read_mask, 1 << ProcFile::Stat as u32);
        assert_eq!(text(&stats[k]), *comm);
        let mut a = stats[k];
        a.comm = st.comm;
        assert_eq!(a, *st, "pid {pid}");
    }
    assert!(heads[..count].windows(2).all(|w| w[0].pid < w[1].pid), "ascending pids");

    // Too small: the first ones, and how many there are.
    let mut h2 = vec![StatHead::default(); 5];
    let mut s2 = vec![StatFields::default(); 5];
    let w = s.walk_stat_into(&mut h2, &mut s2).unwrap();
    assert!(w.count > 5);
    assert_eq!(
        &h2.iter().map(|h| h.pid).collect::<Vec<_>>()[..],
        &heads[..5].iter().map(|h| h.pid).collect::<Vec<_>>()[..]
    );

    let mut sync = Scanner::new(Options { engine: EngineKind::Sync, ..bpf_opts() }).unwrap();
    assert!(sync.walk_stat_into(&mut h2, &mut s2).is_err());
}
