//! The `bpf` engine against `/proc/<pid>/stat`: fidelity (stopped, running, multi-threaded,
//! exited threads, zombies, kernel threads), refusal in a pid namespace and without
//! capabilities, the checked-in object's freshness, fd leaks and churn. Parts that need root
//! (CAP_BPF + CAP_PERFMON) skip with the reason when it is missing.

mod common;

use std::os::unix::process::CommandExt as _;
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
        let ignore: &[&str] = if r.stat_unset & STAT_UNSET_CODE_ADDRS != 0 {
            &["startcode", "endcode", "startstack"]
        } else {
            &[]
        };
        let d = compare(snap, r, ignore).expect("child alive");
        assert!(d.is_empty(), "pid {}: {d:?}", r.pid);
        assert_eq!(r.state, b'T');
    }
}

#[test]
fn whole_system_matches_proc() {
    // Every process on the machine: the fields that cannot move while a process sleeps must
    // match; CPU times within a tick; processes running during the comparison may differ in
    // state, processor, faults and rss.
    let Some(mut s) = bpf_scanner() else { return };
    let snap = s.scan().unwrap();
    let mut listed: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    listed.sort_unstable();
    let walked: Vec<i32> = snap.records().iter().map(|r| r.pid).collect();
    let missing: Vec<&i32> = listed.iter().filter(|p| walked.binary_search(p).is_err()).collect();
    let mut bad = Vec::new();
    let volatile =
        ["state", "processor", "minflt", "majflt", "rss", "vsize", "utime", "stime", "flags"];
    for r in snap.records() {
        let Some(mut d) = compare(snap, r, &volatile) else { continue };
        let Some((_, _, f)) = proc_stat(r.pid) else { continue };
        let (a, b) = (r.cpu_ticks() as i64, (f.utime + f.stime) as i64);
        if (a - b).abs() > 2 {
            d.push(format!("cpu total: bpf {a} /proc {b}"));
        }
        if !d.is_empty() {
            bad.push(format!("{} {:?}", r.pid, d));
        }
    }
    println!("walked {}, listed {}, missing from walk {:?}", walked.len(), listed.len(), missing);
    assert!(bad.is_empty(), "{} differ:\n{}", bad.len(), bad.join("\n"));
    // Processes /proc lists that the walk never visits (more than a few: a bug).
    assert!(missing.len() <= 2, "missing from the walk: {missing:?}");
}
