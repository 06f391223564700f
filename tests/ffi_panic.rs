//! No panic crosses the C ABI. `PROCURING_TEST_PANIC=scan` (read when a scanner is created, only
//! in builds with the `test-hooks` feature, which the tests enable through the dev-dependency
//! on the crate itself) makes the scanner panic inside every scan; through the C functions that must come back as
//! `PROCURING_ERR_PANIC` with a message, poison the scanner for good, and leave `free` working.
//! (A panic escaping an `extern "C"` function aborts the process: this test would not finish.)
//!
//! The variable is process-wide, so this file is its own test binary with a single test.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use procuring::ffi::*;

fn last_error() -> String {
    // SAFETY: never NULL; valid until the next call on this thread.
    unsafe { CStr::from_ptr(procuring_last_error()) }.to_string_lossy().into_owned()
}

fn options() -> procuring_options {
    let mut o = MaybeUninit::uninit();
    // SAFETY: `o` is writable storage for one procuring_options.
    assert_eq!(unsafe { procuring_options_init(o.as_mut_ptr()) }, PROCURING_OK);
    // SAFETY: initialised just above.
    unsafe { o.assume_init() }
}

static HOST_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn panics_are_caught_and_poison_the_scanner() {
    // The host's hook, set before the first library call: the library's own hook (installed on
    // that call) must keep panics inside the library from reaching it (nothing printed on the
    // host's stderr), and pass every other panic on to it.
    std::panic::set_hook(Box::new(|info| {
        HOST_HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
        eprintln!("host panic hook: {info}");
    }));
    std::env::set_var("PROCURING_TEST_PANIC", "scan");
    // SAFETY (every unsafe block below): the pointers passed are NULL where the ABI allows it
    // or point to live locals of the right type and length; each handle comes from
    // procuring_scanner_new and is freed exactly once.
    for engine in [PROCURING_ENGINE_SYNC, PROCURING_ENGINE_URING] {
        let mut o = options();
        o.engine = engine;
        let mut s = std::ptr::null_mut();
        assert_eq!(unsafe { procuring_scanner_new(&o, &mut s) }, PROCURING_OK, "{}", last_error());

        assert_eq!(unsafe { procuring_scan(s) }, PROCURING_ERR_PANIC);
        let msg = last_error();
        assert!(msg.contains("panic") && msg.contains("test hook"), "{msg}");
        println!("engine {engine}: first scan -> {PROCURING_ERR_PANIC}: {msg}");

        // Poisoned for good: every call on it says so, none panics again.
        assert_eq!(unsafe { procuring_scan(s) }, PROCURING_ERR_PANIC);
        let msg = last_error();
        assert!(msg.contains("poisoned"), "{msg}");
        assert_eq!(
            unsafe { procuring_scan_files(s, 1, 0, std::ptr::null(), 0) },
            PROCURING_ERR_PANIC
        );
        let pids = [1i32];
        assert_eq!(unsafe { procuring_scan_files(s, 1, 0, pids.as_ptr(), 1) }, PROCURING_ERR_PANIC);
        let mut snap = MaybeUninit::<procuring_snapshot>::uninit();
        assert_eq!(unsafe { procuring_snapshot_get(s, snap.as_mut_ptr()) }, PROCURING_ERR_PANIC);
        let (mut n, mut buf) = (0usize, [0i32; 4]);
        assert_eq!(
            unsafe { procuring_list_pids(s, buf.as_mut_ptr(), buf.len(), &mut n) },
            PROCURING_ERR_PANIC
        );
        let (mut held, mut cap) = (0u32, 0u32);
        assert_eq!(unsafe { procuring_held_fds(s, &mut held, &mut cap) }, PROCURING_ERR_PANIC);
        println!("engine {engine}: poisoned scanner -> {PROCURING_ERR_PANIC}: {}", last_error());
        unsafe { procuring_scanner_free(s) };

        // The pid-list path panics the same way, on a fresh scanner.
        let mut s = std::ptr::null_mut();
        assert_eq!(unsafe { procuring_scanner_new(&o, &mut s) }, PROCURING_OK);
        assert_eq!(unsafe { procuring_scan_files(s, 1, 0, pids.as_ptr(), 1) }, PROCURING_ERR_PANIC);
        assert!(last_error().contains("panic"));
        assert_eq!(unsafe { procuring_scan(s) }, PROCURING_ERR_PANIC);
        unsafe { procuring_scanner_free(s) };
    }

    assert_eq!(
        HOST_HOOK_CALLS.load(Ordering::SeqCst),
        0,
        "a library panic reached the host's hook"
    );
    // A panic of the host's own still reaches its hook.
    assert!(std::panic::catch_unwind(|| panic!("the host's own panic")).is_err());
    assert_eq!(HOST_HOOK_CALLS.load(Ordering::SeqCst), 1, "the host's panic missed its hook");

    // Without the variable, scanners work again (nothing global was left broken).
    std::env::remove_var("PROCURING_TEST_PANIC");
    let mut s = std::ptr::null_mut();
    assert_eq!(unsafe { procuring_scanner_new(&options(), &mut s) }, PROCURING_OK);
    assert_eq!(unsafe { procuring_scan(s) }, PROCURING_OK, "{}", last_error());
    let mut snap = MaybeUninit::<procuring_snapshot>::uninit();
    assert_eq!(unsafe { procuring_snapshot_get(s, snap.as_mut_ptr()) }, PROCURING_OK);
    // SAFETY: filled by the successful call above.
    assert!(unsafe { snap.assume_init() }.count > 0);
    unsafe { procuring_scanner_free(s) };
}
