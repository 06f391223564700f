//! io_uring refused by the kernel: each test re-runs itself in a child process of this test
//! binary under a seccomp filter that fails `io_uring_setup` with EPERM (what Docker's default
//! profile and `kernel.io_uring_disabled=2` give) or ENOSYS (a kernel without io_uring). There
//! `auto` must run the sync engine and scan, and a forced `uring` must fail with
//! `Error::UringUnavailable` naming the cause, through the Rust API and the C ABI alike.

use std::ffi::CStr;
use std::time::Duration;

use procuring::ffi;
use procuring::{EngineKind, Error, FileSet, Options, ProcFile, Scanner};

mod common;
use common::{Echo, Reexec};

const CHILD: Reexec = Reexec { var: "SECCOMP_TEST_CHILD", echo: Echo::Together };
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

// BPF, as in <linux/filter.h> and <linux/seccomp.h>.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_long = 1;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xc000_00b7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

/// Installs on every thread of this process a filter failing `io_uring_setup` with `errno`.
fn deny_io_uring(errno: i32) {
    let f = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut prog = [
        f(BPF_LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        f(BPF_JEQ_K, 0, 3, AUDIT_ARCH.unwrap()),
        f(BPF_LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        f(BPF_JEQ_K, 0, 1, libc::SYS_io_uring_setup as u32),
        f(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno as u32),
        f(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
    // SAFETY: plain prctl; then seccomp(2) with a valid program that outlives the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        let r = libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_TSYNC,
            &fprog,
        );
        assert_eq!(r, 0, "seccomp: {}", std::io::Error::last_os_error());
    }
    // The filter works: a raw io_uring_setup fails with `errno`.
    // SAFETY: io_uring_setup with a zeroed params struct; the result is closed if it succeeds.
    let r = unsafe {
        let mut p: [u8; 120] = [0; 120];
        libc::syscall(libc::SYS_io_uring_setup, 4, p.as_mut_ptr())
    };
    assert_eq!(
        (r, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(errno)),
        "filter not in force"
    );
}

fn refused(errno: i32, name: &str) {
    if AUDIT_ARCH.is_none() {
        common::skip("seccomp filter written for x86_64 and aarch64");
        println!("CHILD-DONE {name}");
        return;
    }
    deny_io_uring(errno);
    let word = if errno == libc::EPERM { "EPERM" } else { "ENOSYS" };

    // auto: the sync engine, and a scan that works.
    let mut s = Scanner::new(Options {
        engine: EngineKind::Auto,
        files: FileSet::ALL,
        ..Default::default()
    })
    .unwrap();
    // (bpf when it loads: it reads the other files through sync, never io_uring.)
    assert!(matches!(s.engine(), EngineKind::Sync | EngineKind::Bpf), "{:?}", s.engine());
    assert!(!s.engine_reason().is_empty());
    let me = std::process::id() as i32;
    let snap = s.scan().unwrap();
    let r = snap.get(me).expect("own record");
    assert!(
        r.has(ProcFile::Stat) && r.has(ProcFile::Status) && r.has(ProcFile::Cmdline),
        "{:?}",
        r.errors
    );
    let n = snap.records().len();
    println!("{word}: auto -> {:?} ({}), {n} records", s.engine(), s.engine_reason());
    // Each scanner may hold up to half the descriptors allowed: one at a time.
    drop(s);

    // forced uring: an error naming the cause.
    let e = Scanner::new(Options { engine: EngineKind::Uring, ..Default::default() }).unwrap_err();
    let Error::UringUnavailable(why) = &e else {
        panic!("forced uring under seccomp {word}: {e:?}")
    };
    assert!(why.contains("io_uring_setup") && why.contains(word), "{why}");
    let msg = e.to_string();
    assert!(msg.starts_with("io_uring engine unavailable: ") && msg.contains(word), "{msg}");
    println!("{word}: forced uring -> {msg}");

    // forced sync is unaffected.
    let mut s = Scanner::new(Options { engine: EngineKind::Sync, ..Default::default() }).unwrap();
    assert!(s.scan().unwrap().get(me).is_some());
    drop(s);

    // The C ABI: PROCURING_ERR_URING_UNAVAILABLE with the same message; auto works.
    let mut o = std::mem::MaybeUninit::uninit();
    // SAFETY: `o` is writable storage for one procuring_options.
    assert_eq!(unsafe { ffi::procuring_options_init(o.as_mut_ptr()) }, ffi::PROCURING_OK);
    // SAFETY: initialised just above.
    let mut o = unsafe { o.assume_init() };
    o.engine = ffi::PROCURING_ENGINE_URING;
    let mut sc = std::ptr::null_mut();
    // SAFETY: `o` and `sc` are live locals.
    let rc = unsafe { ffi::procuring_scanner_new(&o, &mut sc) };
    // SAFETY: never NULL; valid until the next call on this thread.
    let m = unsafe { CStr::from_ptr(ffi::procuring_last_error()) }.to_string_lossy().into_owned();
    assert_eq!(rc, ffi::PROCURING_ERR_URING_UNAVAILABLE, "{m}");
    assert!(sc.is_null());
    assert!(m.contains(word), "{m}");
    o.engine = ffi::PROCURING_ENGINE_AUTO;
    // SAFETY: `o` and `sc` are live locals.
    assert_eq!(unsafe { ffi::procuring_scanner_new(&o, &mut sc) }, ffi::PROCURING_OK);
    // SAFETY: a live scanner; the name is a static string.
    let engine = unsafe { CStr::from_ptr(ffi::procuring_engine_name(sc)) };
    assert!(matches!(engine.to_bytes(), b"sync" | b"bpf"), "{engine:?}");
    // SAFETY: a live scanner, freed once.
    assert_eq!(unsafe { ffi::procuring_scan(sc) }, ffi::PROCURING_OK);
    // SAFETY: as above.
    unsafe { ffi::procuring_scanner_free(sc) };
    println!("CHILD-DONE {name}");
}

#[test]
fn uring_refused_with_eperm() {
    if !CHILD.is_child("uring_refused_with_eperm") {
        return CHILD.run_in_child("uring_refused_with_eperm", &[], CHILD_TIMEOUT);
    }
    refused(libc::EPERM, "uring_refused_with_eperm");
}

#[test]
fn uring_refused_with_enosys() {
    if !CHILD.is_child("uring_refused_with_enosys") {
        return CHILD.run_in_child("uring_refused_with_enosys", &[], CHILD_TIMEOUT);
    }
    refused(libc::ENOSYS, "uring_refused_with_enosys");
}
