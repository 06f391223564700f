//! Permissions: the scanner run by an unprivileged user (a child of this test binary that drops
//! to nobody, uid/gid 65534). Other users' `exe`, `environ` and `io` are refused per file
//! (EACCES/EPERM, field left empty), their `stat`, `status`, `comm`, `cmdline` and `cgroup` still
//! read; the user's own processes read in full. Also procfs mounted with `hidepid=invisible`
//! (other users' pids not listed) and `hidepid=noaccess` (listed, every file refused): clear
//! per-file errors, no panic, no scan error. Skipped, with the reason printed, when not root.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use procuring::{EngineKind, FileSet, Options, ProcFile, ProcRecord, Scanner, Snapshot, StrRef};

mod common;
use common::{sleeper, Echo, Kids, Reexec};

const CHILD: Reexec = Reexec { var: "PRIVILEGE_TEST_CHILD", echo: Echo::Together };
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: plain getter.
    unsafe { libc::geteuid() == 0 }
}

/// Waits until `pid` runs `sleep` (its exec done), reading /proc directly.
fn wait_exec(pid: u32) {
    let t = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).map_or(true, |c| c != "sleep\n") {
        assert!(t.elapsed() < Duration::from_secs(10), "child {pid} never ran sleep");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// setgroups([]), setgid(nobody), setuid(nobody): for every thread (glibc's set*id do all).
fn drop_to_nobody() {
    // SAFETY: plain syscalls with valid arguments.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
        assert_eq!(libc::setgid(NOBODY), 0);
        assert_eq!(libc::setuid(NOBODY), 0);
        assert_eq!(
            (libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid()),
            (NOBODY, NOBODY, NOBODY, NOBODY)
        );
        assert_eq!(libc::setuid(0), -1, "privileges not dropped for good");
    }
}

fn denied(code: i32) -> bool {
    code == libc::EACCES || code == libc::EPERM
}

fn check_invariants(snap: &Snapshot, r: &ProcRecord, ctx: &str) {
    for f in ProcFile::ALL {
        assert!(!(r.has(f) && r.errors[f as usize] != 0), "{ctx}: pid {} {f:?}", r.pid);
    }
    if !r.has(ProcFile::Stat) {
        assert_eq!((r.stat, r.state), (Default::default(), 0), "{ctx}: pid {}", r.pid);
    }
    if !r.has(ProcFile::Status) {
        assert_eq!(r.status, Default::default(), "{ctx}: pid {}", r.pid);
    }
    if !r.has(ProcFile::Io) {
        assert_eq!(r.io, Default::default(), "{ctx}: pid {}", r.pid);
    }
    for (f, s) in [
        (ProcFile::Comm, r.comm),
        (ProcFile::Cmdline, r.cmdline),
        (ProcFile::Exe, r.exe),
        (ProcFile::Cgroup, r.cgroup),
        (ProcFile::Environ, r.environ),
    ] {
        if !r.has(f) {
            assert_eq!(s, StrRef::default(), "{ctx}: pid {} {f:?}", r.pid);
        }
        assert!((s.off + s.len) as usize <= snap.arena().len());
    }
}

/// Another user's process: identity and counters readable, exe/environ/io refused.
fn check_other_user(snap: &Snapshot, pid: i32, ctx: &str) {
    let r = snap.get(pid).unwrap_or_else(|| panic!("{ctx}: pid {pid} not returned"));
    check_invariants(snap, r, ctx);
    for f in [ProcFile::Stat, ProcFile::Status, ProcFile::Comm, ProcFile::Cmdline, ProcFile::Cgroup]
    {
        assert!(r.has(f), "{ctx}: pid {pid} {f:?} not read: errors {:?}", r.errors);
    }
    for f in [ProcFile::Exe, ProcFile::Environ, ProcFile::Io] {
        assert!(
            denied(r.errors[f as usize]),
            "{ctx}: pid {pid} {f:?}: error {} (read_mask {:#x})",
            r.errors[f as usize],
            r.read_mask
        );
    }
    assert_eq!(
        (r.exe, r.environ, r.io),
        (StrRef::default(), StrRef::default(), Default::default())
    );
}

#[test]
fn unprivileged_user_gets_per_file_permission_errors() {
    const NAME: &str = "unprivileged_user_gets_per_file_permission_errors";
    if !CHILD.is_child(NAME) {
        if !is_root() {
            common::skip("needs root (to drop to nobody and to own processes nobody cannot read)");
            return;
        }
        // A root process nobody cannot ptrace-read, besides pid 1.
        let root_kid = Kids(vec![sleeper()]);
        wait_exec(root_kid.0[0].id());
        CHILD.run_in_child(
            NAME,
            &[("PRIVILEGE_ROOT_PID", root_kid.0[0].id().to_string())],
            CHILD_TIMEOUT,
        );
        return;
    }
    let root_pid: i32 = std::env::var("PRIVILEGE_ROOT_PID").unwrap().parse().unwrap();
    drop_to_nobody();
    let mine = Kids(vec![sleeper()]);
    let my_pid = mine.0[0].id() as i32;
    wait_exec(my_pid as u32);
    for engine in [EngineKind::Sync, EngineKind::Uring] {
        let mut s =
            Scanner::new(Options { engine, files: FileSet::ALL, ..Default::default() }).unwrap();
        for round in 0..3 {
            let ctx = format!("{engine:?} round {round}");
            let snap = s.scan().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            for r in snap.records() {
                check_invariants(snap, r, &ctx);
            }
            for pid in [1, root_pid] {
                check_other_user(snap, pid, &ctx);
            }
            let r = snap.get(my_pid).unwrap();
            assert_eq!(r.read_mask, FileSet::ALL.0, "{ctx}: own process: errors {:?}", r.errors);
            assert!(snap.bytes(r.exe).ends_with(b"sleep"));
            let r1 = snap.get(1).unwrap();
            let rr = snap.get(root_pid).unwrap();
            let name = |f: ProcFile, r: &ProcRecord| (f.name(), r.errors[f as usize]);
            println!(
                "{ctx}: {} records; pid 1 {:?}, root child {root_pid} {:?} (read_mask {:#x}); own child {my_pid} read_mask {:#x}",
                snap.records().len(),
                [name(ProcFile::Exe, r1), name(ProcFile::Environ, r1), name(ProcFile::Io, r1)],
                [name(ProcFile::Exe, rr), name(ProcFile::Environ, rr), name(ProcFile::Io, rr)],
                rr.read_mask,
                r.read_mask
            );
        }
    }
    drop(mine);
    println!("CHILD-DONE {NAME}");
}

/// Mounts a procfs with `opts` at a new directory of this thread's private mount namespace.
fn mount_proc(dir: &Path, opts: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let (src, fstype) = (CString::new("proc").unwrap(), CString::new("proc").unwrap());
    let target = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let data = CString::new(opts).unwrap();
    // SAFETY: valid NUL-terminated strings for the duration of the call.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(r, 0, "mount proc {opts} on {}: {}", dir.display(), std::io::Error::last_os_error());
}

#[test]
fn hidepid_mounts() {
    hidepid("hidepid_mounts", false);
}

/// The kernel refuses every file of another user's pid under `hidepid=noaccess` with one errno
/// (EPERM); the scanner reports EACCES for the held kinds (stat, status, io: its remembered
/// "denied" state is always written as EACCES) and the kernel's EPERM for the identity files.
#[test]
fn hidepid_noaccess_keeps_the_kernels_errno() {
    hidepid("hidepid_noaccess_keeps_the_kernels_errno", true);
}

fn hidepid(name: &str, strict_errno: bool) {
    let dirs = |base: &Path| (base.join("invisible"), base.join("noaccess"));
    if !CHILD.is_child(name) {
        if !is_root() {
            common::skip("needs root (to mount procfs with hidepid and drop to nobody)");
            return;
        }
        let base = std::env::temp_dir().join(format!("procuring-{name}-{}", std::process::id()));
        let root_kid = Kids(vec![sleeper()]);
        wait_exec(root_kid.0[0].id());
        let r = std::panic::catch_unwind(|| {
            let env = [
                ("PRIVILEGE_ROOT_PID", root_kid.0[0].id().to_string()),
                ("PRIVILEGE_BASE", base.display().to_string()),
            ];
            CHILD.run_in_child(name, &env, CHILD_TIMEOUT)
        });
        // The mounts lived in the child's private mount namespace: here these are empty dirs.
        let (a, b) = dirs(&base);
        let _ = (std::fs::remove_dir(a), std::fs::remove_dir(b), std::fs::remove_dir(&base));
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
        return;
    }
    let root_pid: i32 = std::env::var("PRIVILEGE_ROOT_PID").unwrap().parse().unwrap();
    let base = PathBuf::from(std::env::var("PRIVILEGE_BASE").unwrap());
    // A private mount namespace for this thread (the scanner runs on it), so the mounts vanish
    // with this process and nobody else sees them.
    // SAFETY: plain syscalls with valid arguments.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            common::skip(format_args!("unshare(CLONE_NEWNS): {}", std::io::Error::last_os_error()));
            println!("CHILD-DONE {name}");
            return;
        }
        assert_eq!(
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null()
            ),
            0
        );
    }
    let (invisible, noaccess) = dirs(&base);
    mount_proc(&invisible, "hidepid=invisible");
    mount_proc(&noaccess, "hidepid=noaccess");
    drop_to_nobody();
    let mine = Kids(vec![sleeper()]);
    let my_pid = mine.0[0].id() as i32;
    wait_exec(my_pid as u32);
    let me = std::process::id() as i32;
    for engine in [EngineKind::Sync, EngineKind::Uring] {
        // invisible: only our own processes are listed, and read in full.
        let mut s = Scanner::new(Options {
            proc_root: invisible.clone(),
            engine,
            files: FileSet::ALL,
            ..Default::default()
        })
        .unwrap();
        assert!(s.is_procfs());
        // A process changing credentials becomes visible without a fork: list every scan.
        assert!(!s.may_reuse_listing(), "hidepid=invisible: the pid list must not be reused");
        for round in 0..2 {
            let ctx = format!("hidepid=invisible {engine:?} round {round}");
            let snap = s.scan().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let pids: Vec<i32> = snap.records().iter().map(|r| r.pid).collect();
            assert!(
                !pids.contains(&1) && !pids.contains(&root_pid),
                "{ctx}: other users' pids listed: {pids:?}"
            );
            assert!(pids.contains(&my_pid) && pids.contains(&me), "{ctx}: {pids:?}");
            assert_eq!(
                snap.get(my_pid).unwrap().read_mask,
                FileSet::ALL.0,
                "{ctx}: {:?}",
                snap.get(my_pid).unwrap().errors
            );
            for r in snap.records() {
                check_invariants(snap, r, &ctx);
            }
            println!("{ctx}: pids {pids:?}");
        }
        // noaccess: other users' pids listed, every file refused; ours read in full.
        let mut s = Scanner::new(Options {
            proc_root: noaccess.clone(),
            engine,
            files: FileSet::ALL,
            ..Default::default()
        })
        .unwrap();
        assert!(!s.may_reuse_listing(), "hidepid=noaccess: the pid list must not be reused");
        let mut codes: HashMap<i32, Vec<[i32; procuring::FILE_COUNT]>> = HashMap::new();
        for round in 0..2 {
            let ctx = format!("hidepid=noaccess {engine:?} round {round}");
            let snap = s.scan().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            for r in snap.records() {
                check_invariants(snap, r, &ctx);
            }
            assert_eq!(snap.get(my_pid).unwrap().read_mask, FileSet::ALL.0, "{ctx}");
            for pid in [1, root_pid] {
                let r = snap.get(pid).unwrap_or_else(|| panic!("{ctx}: pid {pid} not listed"));
                assert_eq!(r.read_mask, 0, "{ctx}: pid {pid}");
                assert!(r.errors.iter().all(|&c| denied(c)), "{ctx}: pid {pid}: {:?}", r.errors);
                codes.entry(pid).or_default().push(r.errors);
            }
            println!(
                "{ctx}: {} records; pid 1 errors {:?}",
                snap.records().len(),
                snap.get(1).unwrap().errors
            );
            if strict_errno {
                let kernel = std::fs::File::open(noaccess.join("1/stat"))
                    .unwrap_err()
                    .raw_os_error()
                    .unwrap();
                let r = snap.get(1).unwrap();
                assert_eq!(
                    r.errors,
                    [kernel; procuring::FILE_COUNT],
                    "{ctx}: pid 1: the kernel said {kernel} for every file"
                );
            }
        }
        for (pid, c) in &codes {
            if c[0] != c[1] {
                println!("hidepid=noaccess {engine:?}: pid {pid}: the errors changed between scans: {:?} then {:?}", c[0], c[1]);
            }
        }
    }
    drop(mine);
    println!("CHILD-DONE {name}");
}
