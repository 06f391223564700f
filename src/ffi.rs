//! The C ABI: a thin layer over [`Scanner`]. Every function catches panics (returning
//! [`PROCURING_ERR_PANIC`]) and records a message for [`procuring_last_error`].
//!
//! Thread-safety: a `procuring_scanner` may be used by one thread at a time (any thread, unless
//! `uring_single_issuer` was set: then only the creating thread). Different scanners may be
//! used concurrently. The last-error string is per thread.

#![allow(non_camel_case_types)]

use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::{c_char, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crate::engine::uring::UringOptions;
use crate::{
    EngineKind, Error, FileSet, Options, ProcRecord, ScanFlags, ScanStats, Scanner, StatFields,
    StatHead,
};

/// Version of this ABI: bumped on any incompatible change of a struct or function.
pub const PROCURING_ABI_VERSION: u32 = 4;

/// Major version of the library: always the ABI version (the soname is
/// `libprocuring.so.<PROCURING_VERSION_MAJOR>`).
pub const PROCURING_VERSION_MAJOR: u32 = PROCURING_ABI_VERSION;
/// Minor version: compatible additions (new options after the existing fields, new functions).
pub const PROCURING_VERSION_MINOR: u32 = 0;
/// Patch version: fixes that change no interface.
pub const PROCURING_VERSION_PATCH: u32 = 0;

/// Success.
pub const PROCURING_OK: i32 = 0;
/// A pointer or value passed in is invalid.
pub const PROCURING_ERR_INVALID_ARG: i32 = -1;
/// The proc root could not be opened or listed.
pub const PROCURING_ERR_IO: i32 = -2;
/// `engine = uring` was requested and io_uring cannot be used here (the message says why).
pub const PROCURING_ERR_URING_UNAVAILABLE: i32 = -3;
/// An internal panic was caught; the scanner must not be used again (free it).
pub const PROCURING_ERR_PANIC: i32 = -4;
/// The output buffer is too small; the needed count was stored.
pub const PROCURING_ERR_BUFFER_TOO_SMALL: i32 = -5;
/// The snapshot's text would exceed 4 GiB.
pub const PROCURING_ERR_ARENA_FULL: i32 = -6;
/// The scanner is in use by another thread right now (a scanner is for one thread at a time);
/// nothing was done.
pub const PROCURING_ERR_BUSY: i32 = -7;
/// The engine could not complete the scan (io_uring_enter kept failing); the message says why.
/// The scanner refuses later scans: free it.
pub const PROCURING_ERR_ENGINE: i32 = -8;
/// `engine = bpf` was requested and the BPF program cannot be loaded (the message says why:
/// missing capability, no kernel BTF, verifier rejection, pid namespace).
pub const PROCURING_ERR_BPF_UNAVAILABLE: i32 = -9;

/// Engine: the measured default (see the README): bpf when it loads, else sync; the engine
/// reason says which and why.
pub const PROCURING_ENGINE_AUTO: u32 = 0;
/// Engine: io_uring (an error if the kernel refuses it).
pub const PROCURING_ENGINE_URING: u32 = 1;
/// Engine: plain syscalls.
pub const PROCURING_ENGINE_SYNC: u32 = 2;
/// Engine: a BPF walk of every task (an error if it cannot load; needs CAP_BPF + CAP_PERFMON).
pub const PROCURING_ENGINE_BPF: u32 = 3;

/// File index of `/proc/<pid>/stat` (always read). File indices are the bit numbers of file
/// masks (`1 << PROCURING_FILE_x` in `procuring_options.files`, `read_mask`, `cached_mask`) and
/// indices into `procuring_record.errors`; `procuring_file_name` gives the file's name.
pub const PROCURING_FILE_STAT: u32 = 0;
/// File index of `/proc/<pid>/status` (`procuring_record.status`).
pub const PROCURING_FILE_STATUS: u32 = 1;
/// File index of `/proc/<pid>/io` (`procuring_record.io`; another user's needs privilege).
pub const PROCURING_FILE_IO: u32 = 2;
/// File index of `/proc/<pid>/comm` (`procuring_record.comm`; identity, cached per process).
pub const PROCURING_FILE_COMM: u32 = 3;
/// File index of `/proc/<pid>/cmdline` (`procuring_record.cmdline`; identity).
pub const PROCURING_FILE_CMDLINE: u32 = 4;
/// File index of the `/proc/<pid>/exe` link (`procuring_record.exe`; identity).
pub const PROCURING_FILE_EXE: u32 = 5;
/// File index of `/proc/<pid>/cgroup` (`procuring_record.cgroup`; identity).
pub const PROCURING_FILE_CGROUP: u32 = 6;
/// File index of `/proc/<pid>/environ` (`procuring_record.environ`; identity, not read by
/// default).
pub const PROCURING_FILE_ENVIRON: u32 = 7;
/// File index of `/proc/<pid>/schedstat` (`procuring_record.schedstat`).
pub const PROCURING_FILE_SCHEDSTAT: u32 = 8;

/// Scan flag: re-read identity files even when cached.
pub const PROCURING_SCAN_REFRESH_IDENTITY: u32 = 1;
/// Scan flag: do not re-read `stat` of pids an earlier scan of this scanner already read
/// (their records carry no stat); for a second batch over the same pids wanting other files.
pub const PROCURING_SCAN_SKIP_STAT: u32 = 2;
/// Scan flag: identity files served from the cache are not copied into the arena (their bit
/// is in `cached_mask`, not in `read_mask`); for callers that keep earlier texts themselves.
pub const PROCURING_SCAN_OMIT_CACHED: u32 = 4;

/// Options of `procuring_scanner_new`. Initialise with `procuring_options_init`, then
/// change what you need: fields added by later versions get their defaults that way.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct procuring_options {
    /// `sizeof(procuring_options)`, set by `procuring_options_init`.
    pub struct_size: u32,
    /// Files to read on `procuring_scan`: bitmask of `1 << PROCURING_FILE_*` (stat is always read).
    pub files: u32,
    /// Proc root, NUL-terminated; NULL means "/proc". Copied: need not outlive the call.
    pub proc_root: *const c_char,
    /// `PROCURING_ENGINE_AUTO`, `PROCURING_ENGINE_URING`, `PROCURING_ENGINE_SYNC` or
    /// `PROCURING_ENGINE_BPF`.
    pub engine: u32,
    /// Non-zero: hold stat/status/io descriptors open across scans (default 1).
    pub hold_fds: u32,
    /// Cap on held descriptors; 0 means half the soft RLIMIT_NOFILE.
    pub max_held_fds: u32,
    /// io_uring: requests per submission (default 256).
    pub uring_batch: u32,
    /// io_uring: non-zero sets IOSQE_ASYNC on reads (io-wq fan-out).
    pub uring_async: u32,
    /// io_uring: io-wq worker cap with `uring_async` (0: CPU count).
    pub uring_iowq_workers: u32,
    /// io_uring: non-zero sets SINGLE_ISSUER | DEFER_TASKRUN (scans only on the creating thread).
    pub uring_single_issuer: u32,
    /// sync: threads sharing the reads of one scan (default 1; more cut wall time, not CPU).
    pub threads: u32,
    /// Non-zero: re-read stat only for processes that ran since the last scan (schedstat
    /// decides; reused stat has `PROCURING_FILE_STAT` in `cached_mask`). Default 0. Exact
    /// then: what changes only when the process runs (`utime`, `stime`, fault counters,
    /// `num_threads`, `vsize`, `comm`, `starttime`); as old as the process's last run: `state`,
    /// `ppid`, `tpgid`, `flags`, `priority`, `nice`, `policy`, `rt_priority`, `rss`, `rsslim`,
    /// `processor`. Multi-threaded processes always get a fresh `stat`. Rust:
    /// `Options::reuse_idle_stat`.
    pub reuse_idle_stat: u32,
    /// Non-zero: list the proc root on every `procuring_scan`. Default 0: a scan keeps the
    /// previous pid list when the kernel's fork counter shows no process was created since
    /// (`stats.list_reused` says when; exits are still seen). Rust: `Options::list_every_scan`.
    pub list_every_scan: u32,
    /// Non-zero: serve comm, cmdline, exe, cgroup and environ from what an earlier scan read
    /// (their bits then in `cached_mask`). Default 0: each is read in every scan that asks
    /// for it, so every value is what the kernel showed during that scan.
    ///
    /// Staleness contract with the cache on: a served value is at most `identity_max_age_ms`
    /// old; it is read again as soon as a scan's stat shows another starttime (reused pid),
    /// another comm (execve, PR_SET_NAME) or other exec addresses (startcode, endcode,
    /// startstack, arg_start, arg_end, env_start; shown only to a reader allowed to ptrace the
    /// process). A value is cached only when read after a stat of an earlier scan; errors
    /// other than ENOENT/ESRCH and the empty cmdline of a process that is not a kernel thread
    /// are never cached. Not seen until the age runs out: argv rewritten in place
    /// (setproctitle), a cgroup move, environ changed in place. PROCURING_SCAN_REFRESH_IDENTITY
    /// re-reads everything.
    pub identity_cache: u32,
    /// Longest age of a cached identity value in milliseconds; 0 means 10000 (default 0).
    pub identity_max_age_ms: u32,
}

/// An opaque scanner handle.
pub struct procuring_scanner {
    /// Set while a call uses `inner`: a second thread gets `PROCURING_ERR_BUSY` instead of
    /// sharing it.
    busy: AtomicBool,
    inner: UnsafeCell<Inner>,
    engine: EngineKind,
    engine_reason: CString,
}

/// What only the thread holding `busy` may touch.
struct Inner {
    scanner: Scanner,
    poisoned: bool,
}

// SAFETY: `inner` is only reached through `Claim`, which holds `busy` (one thread at a time);
// the other fields are immutable after creation.
unsafe impl Sync for procuring_scanner {}

impl std::fmt::Debug for procuring_scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("procuring_scanner").field("engine", &self.engine).finish_non_exhaustive()
    }
}

/// Exclusive use of a scanner's `inner` for one call: released on drop (panics included).
struct Claim<'a> {
    s: &'a procuring_scanner,
}

impl<'a> Claim<'a> {
    fn inner(&mut self) -> &mut Inner {
        // SAFETY: this claim holds `busy`, so no other reference to `inner` exists.
        unsafe { &mut *self.s.inner.get() }
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.s.busy.store(false, Ordering::Release);
    }
}

/// A view of the last scan: records, arena and counters. Valid until the next scan or free.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct procuring_snapshot {
    /// `count` records, ascending by pid.
    pub records: *const ProcRecord,
    /// Number of records.
    pub count: usize,
    /// The text arena every `procuring_str` of the records points into (`arena_len` bytes,
    /// not NUL-terminated): the text of `s` is `arena + s.off`, `s.len` bytes.
    pub arena: *const u8,
    /// Bytes in `arena`.
    pub arena_len: usize,
    /// Counters of the scan.
    pub stats: ScanStats,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: impl Into<Vec<u8>>) {
    let mut v = msg.into();
    v.retain(|&c| c != 0);
    let c = CString::new(v).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

fn code_of(e: &Error) -> i32 {
    match e {
        Error::Root { .. } | Error::List { .. } => PROCURING_ERR_IO,
        Error::UringUnavailable(_) => PROCURING_ERR_URING_UNAVAILABLE,
        Error::BpfUnavailable(_) => PROCURING_ERR_BPF_UNAVAILABLE,
        Error::InvalidArgument(_) => PROCURING_ERR_INVALID_ARG,
        Error::ArenaFull => PROCURING_ERR_ARENA_FULL,
        Error::Engine(_) => PROCURING_ERR_ENGINE,
    }
}

fn fail(e: Error) -> i32 {
    set_error(e.to_string());
    code_of(&e)
}

thread_local! {
    /// Set while this thread runs inside a library call.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// A panic inside the library is caught and returned as `PROCURING_ERR_PANIC` with its
/// message in `procuring_last_error`, so Rust's default hook must not also print it to the
/// host's stderr. Installed once, on the first call: the hook stays silent while this thread
/// is inside a library call and otherwise hands the panic to the hook that was there before
/// (so a host that is itself Rust, linking the rlib, keeps its own reporting).
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !INSIDE.with(|i| i.get()) {
                previous(info);
            }
        }));
    });
}

/// Marks this thread as inside the library until dropped (restoring the outer state, so that
/// nested calls work).
struct Inside(bool);

impl Inside {
    fn enter() -> Inside {
        Inside(INSIDE.with(|i| i.replace(true)))
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.with(|i| i.set(self.0));
    }
}

/// Runs `f`, turning a panic into `PROCURING_ERR_PANIC` with its message (printed nowhere).
fn guard(f: impl FnOnce() -> i32) -> i32 {
    install_quiet_hook();
    let _inside = Inside::enter();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_error(format!("internal error (panic): {msg}"));
            PROCURING_ERR_PANIC
        }
    }
}

/// Claims a scanner for this call: `PROCURING_ERR_BUSY` while another thread uses it,
/// `PROCURING_ERR_PANIC` once poisoned.
fn claim<'a>(s: *const procuring_scanner) -> Result<Claim<'a>, i32> {
    if s.is_null() {
        set_error("scanner is NULL");
        return Err(PROCURING_ERR_INVALID_ARG);
    }
    // SAFETY: non-null, and the caller promises it came from procuring_scanner_new and is not
    // freed; only shared references to it are made, and `inner` only under `busy`.
    let s = unsafe { &*s };
    if s.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        set_error("scanner is in use by another thread (use one scanner per thread)");
        return Err(PROCURING_ERR_BUSY);
    }
    let mut c = Claim { s };
    if c.inner().poisoned {
        set_error("scanner was poisoned by an earlier internal error; free it");
        return Err(PROCURING_ERR_PANIC);
    }
    Ok(c)
}

/// The ABI version this library implements: compare with `PROCURING_ABI_VERSION` of the header
/// the program was built with.
#[no_mangle]
pub extern "C" fn procuring_abi_version() -> u32 {
    PROCURING_ABI_VERSION
}

/// The library's version, `"<major>.<minor>.<patch>"` (the Cargo package version; its major is
/// [`PROCURING_ABI_VERSION`]). The header's `PROCURING_VERSION_STRING` is the version a program
/// was compiled with; this is the one it runs with. Static storage, never NULL.
#[no_mangle]
pub extern "C" fn procuring_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Marks the source hash in the binary, so that a prebuilt archive can be checked without
/// linking it (scripts/check-go-lib.sh greps for it).
const SOURCE_HASH: &str = concat!("procuring-source-hash:", env!("PROCURING_SOURCE_HASH"), "\0");

/// The SHA-256 (64 hex digits) of the sources this library was built from (every file under
/// src/, Cargo.toml, Cargo.lock, build.rs, cbindgen.toml; see build.rs): two builds with the
/// same value come from the same code. Static storage, never NULL.
#[no_mangle]
pub extern "C" fn procuring_source_hash() -> *const c_char {
    SOURCE_HASH["procuring-source-hash:".len()..].as_ptr().cast()
}

/// Whether a scanner should panic inside every scan (`PROCURING_TEST_PANIC=scan`), to test that
/// no panic crosses the C ABI. Compiled only with the `test-hooks` feature (the tests enable
/// it): a release library never reads the variable.
#[cfg(feature = "test-hooks")]
pub(crate) fn test_panic_requested() -> bool {
    std::env::var_os("PROCURING_TEST_PANIC").is_some_and(|v| v == "scan")
}

/// Without the `test-hooks` feature there is no panic injection.
#[cfg(not(feature = "test-hooks"))]
pub(crate) fn test_panic_requested() -> bool {
    false
}

/// The message of the last error on this thread (empty if none). Valid until the next call
/// into the library on this thread; never NULL.
#[no_mangle]
pub extern "C" fn procuring_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Fills `opts` with the defaults: /proc, every file but environ, auto engine, held fds.
///
/// # Safety
/// `opts` is NULL or points to writable storage for one `procuring_options`.
#[no_mangle]
pub unsafe extern "C" fn procuring_options_init(opts: *mut procuring_options) -> i32 {
    guard(|| {
        if opts.is_null() {
            set_error("options is NULL");
            return PROCURING_ERR_INVALID_ARG;
        }
        let d = Options::default();
        let o = procuring_options {
            struct_size: std::mem::size_of::<procuring_options>() as u32,
            files: d.files.0,
            proc_root: std::ptr::null(),
            engine: d.engine as u32,
            hold_fds: d.hold_fds as u32,
            max_held_fds: d.max_held_fds,
            uring_batch: d.uring.batch,
            uring_async: d.uring.async_reads as u32,
            uring_iowq_workers: d.uring.iowq_workers,
            uring_single_issuer: d.uring.single_issuer as u32,
            threads: d.threads,
            reuse_idle_stat: d.reuse_idle_stat as u32,
            list_every_scan: d.list_every_scan as u32,
            identity_cache: d.identity_cache as u32,
            identity_max_age_ms: d.identity_max_age_ms,
        };
        // SAFETY: non-null; the caller provides storage for one procuring_options.
        unsafe { opts.write(o) };
        PROCURING_OK
    })
}

fn options_from(o: &procuring_options) -> Result<Options, Error> {
    if o.struct_size as usize != std::mem::size_of::<procuring_options>() {
        return Err(Error::InvalidArgument(format!(
            "options.struct_size is {} but this library expects {} (call procuring_options_init)",
            o.struct_size,
            std::mem::size_of::<procuring_options>()
        )));
    }
    if o.files & !FileSet::ALL.0 != 0 {
        return Err(Error::InvalidArgument(format!(
            "unknown file bits {:#x}",
            o.files & !FileSet::ALL.0
        )));
    }
    let engine = match o.engine {
        0 => EngineKind::Auto,
        1 => EngineKind::Uring,
        2 => EngineKind::Sync,
        3 => EngineKind::Bpf,
        n => return Err(Error::InvalidArgument(format!("unknown engine {n}"))),
    };
    let proc_root = if o.proc_root.is_null() {
        PathBuf::from("/proc")
    } else {
        // SAFETY: non-null; the caller promises a NUL-terminated string valid for this call.
        let c = unsafe { CStr::from_ptr(o.proc_root) };
        PathBuf::from(std::ffi::OsStr::from_bytes(c.to_bytes()))
    };
    Ok(Options {
        proc_root,
        files: FileSet(o.files),
        engine,
        hold_fds: o.hold_fds != 0,
        max_held_fds: o.max_held_fds,
        uring: UringOptions {
            batch: o.uring_batch,
            async_reads: o.uring_async != 0,
            iowq_workers: o.uring_iowq_workers,
            single_issuer: o.uring_single_issuer != 0,
        },
        threads: o.threads,
        reuse_idle_stat: o.reuse_idle_stat != 0,
        list_every_scan: o.list_every_scan != 0,
        identity_cache: o.identity_cache != 0,
        identity_max_age_ms: o.identity_max_age_ms,
    })
}

/// Creates a scanner. `opts` may be NULL for the defaults. On success stores the handle in
/// `*out` and returns 0; on failure returns a negative code (see `procuring_last_error`).
///
/// # Safety
/// `opts` is NULL or points to a `procuring_options` filled by `procuring_options_init` (its `proc_root` NULL or a NUL-terminated string); `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procuring_scanner_new(
    opts: *const procuring_options,
    out: *mut *mut procuring_scanner,
) -> i32 {
    guard(|| {
        if out.is_null() {
            set_error("out is NULL");
            return PROCURING_ERR_INVALID_ARG;
        }
        let o = if opts.is_null() {
            Ok(Options::default())
        } else {
            // SAFETY: non-null; the caller promises a valid procuring_options.
            options_from(unsafe { &*opts })
        };
        let made = o.and_then(Scanner::new);
        match made {
            Ok(scanner) => {
                let engine_reason =
                    CString::new(scanner.engine_reason().replace('\0', "")).unwrap_or_default();
                let b = Box::new(procuring_scanner {
                    busy: AtomicBool::new(false),
                    engine: scanner.engine(),
                    inner: UnsafeCell::new(Inner { scanner, poisoned: false }),
                    engine_reason,
                });
                // SAFETY: `out` is non-null and writable per the contract.
                unsafe { out.write(Box::into_raw(b)) };
                PROCURING_OK
            }
            Err(e) => fail(e),
        }
    })
}

/// Frees a scanner (NULL is ignored). Closes every held descriptor. A scanner another thread
/// is using right now is not freed (that would pull it from under the other call): the error
/// is left in `procuring_last_error` and the caller may free it again once that call returned.
///
/// # Safety
/// `s` is NULL or a handle from `procuring_scanner_new` not freed yet; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn procuring_scanner_free(s: *mut procuring_scanner) {
    guard(|| {
        if s.is_null() {
            return PROCURING_OK;
        }
        // SAFETY: non-null handle from procuring_scanner_new (contract); shared access only.
        let busy = &unsafe { &*s }.busy;
        if busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            set_error("procuring_scanner_free: scanner is in use by another thread; not freed");
            return PROCURING_ERR_BUSY;
        }
        // SAFETY: came from Box::into_raw in procuring_scanner_new, is freed once, and no
        // other call is using it (claimed just above; the claim dies with it).
        drop(unsafe { Box::from_raw(s) });
        PROCURING_OK
    });
}

fn finish_scan(mut c: Claim<'_>, r: impl FnOnce(&mut Scanner) -> Result<(), Error>) -> i32 {
    let inner = c.inner();
    let res = catch_unwind(AssertUnwindSafe(|| r(&mut inner.scanner)));
    match res {
        Ok(Ok(())) => PROCURING_OK,
        Ok(Err(e)) => {
            if matches!(e, Error::Engine(_)) {
                inner.poisoned = true;
            }
            fail(e)
        }
        Err(p) => {
            inner.poisoned = true;
            std::panic::resume_unwind(p)
        }
    }
}

/// Lists every process and reads the files of the options. The result is read with
/// `procuring_snapshot_get`.
///
/// # Safety
/// `s` is NULL or a live handle from `procuring_scanner_new`, used by one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn procuring_scan(s: *mut procuring_scanner) -> i32 {
    guard(|| match claim(s) {
        Ok(c) => finish_scan(c, |sc| sc.scan().map(|_| ())),
        Err(code) => code,
    })
}

/// Reads `files` (bitmask; stat always) of every listed process (`pids == NULL`) or of the
/// `n` given pids. `flags`: `PROCURING_SCAN_*`.
///
/// # Safety
/// `s` as for `procuring_scan`; `pids` is NULL or points to `n` readable `int32_t`.
#[no_mangle]
pub unsafe extern "C" fn procuring_scan_files(
    s: *mut procuring_scanner,
    files: u32,
    flags: u32,
    pids: *const i32,
    n: usize,
) -> i32 {
    guard(|| {
        let c = match claim(s) {
            Ok(c) => c,
            Err(code) => return code,
        };
        if files & !FileSet::ALL.0 != 0 {
            set_error(format!("unknown file bits {:#x}", files & !FileSet::ALL.0));
            return PROCURING_ERR_INVALID_ARG;
        }
        if pids.is_null() && n != 0 {
            set_error("pids is NULL but n is not 0");
            return PROCURING_ERR_INVALID_ARG;
        }
        if flags & !ScanFlags::ALL.0 != 0 {
            set_error(format!("unknown scan flags {:#x}", flags & !ScanFlags::ALL.0));
            return PROCURING_ERR_INVALID_ARG;
        }
        let (files, flags) = (FileSet(files), ScanFlags(flags));
        if pids.is_null() {
            finish_scan(c, |sc| sc.scan_with(files, flags).map(|_| ()))
        } else {
            // SAFETY: non-null; the caller promises `n` readable i32 values.
            let pids = unsafe { std::slice::from_raw_parts(pids, n) };
            finish_scan(c, |sc| sc.scan_pids(pids, files, flags).map(|_| ()))
        }
    })
}

/// Lists the pids of the proc root (ascending) into `out` (capacity `cap`), storing the count
/// in `*n`. Returns `PROCURING_ERR_BUFFER_TOO_SMALL` (with the count needed in `*n`) when
/// `cap` is too small.
///
/// # Safety
/// `s` as for `procuring_scan`; `out` points to `cap` writable `int32_t` (or is NULL with `cap` 0); `n` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procuring_list_pids(
    s: *mut procuring_scanner,
    out: *mut i32,
    cap: usize,
    n: *mut usize,
) -> i32 {
    guard(|| {
        let mut c = match claim(s) {
            Ok(c) => c,
            Err(code) => return code,
        };
        if n.is_null() || (out.is_null() && cap != 0) {
            set_error("n is NULL, or out is NULL with a non-zero cap");
            return PROCURING_ERR_INVALID_ARG;
        }
        let mut v = Vec::new();
        if let Err(e) = c.inner().scanner.list_pids(&mut v) {
            return fail(e);
        }
        // SAFETY: `n` is non-null and writable.
        unsafe { n.write(v.len()) };
        if v.len() > cap {
            set_error(format!("{} pids do not fit in {cap}", v.len()));
            return PROCURING_ERR_BUFFER_TOO_SMALL;
        }
        if !v.is_empty() {
            // SAFETY: `out` has room for `cap >= v.len()` i32 values; u32 pids are <= i32::MAX.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr().cast::<i32>(), out, v.len()) };
        }
        PROCURING_OK
    })
}

/// `stat` of every process from one walk of the `bpf` engine, written into the caller's
/// arrays instead of the snapshot (which keeps what the last scan put there): process k (by
/// ascending pid) in `heads[k]` and `stats[k]`, for k below `*n`. The comms of `stats` are
/// ranges of the text stored in `*arena`/`*arena_len`, valid until the next call with `s` or
/// its free. `*scan_stats` (may be NULL) gets the walk's counters. For a caller that keeps
/// results in arrays of its own (the Go package): one write per process, no copy out of the
/// snapshot.
///
/// Returns `PROCURING_ERR_BUFFER_TOO_SMALL`, with the number of processes in `*n`, when they
/// are more than `cap` (the arrays then hold the first `cap`: walk again with more room), and
/// `PROCURING_ERR_INVALID_ARG` with another engine.
///
/// # Safety
/// `s` as for `procuring_scan`; `heads` and `stats` point to `cap` writable elements (or are
/// NULL with `cap` 0); `n`, `arena` and `arena_len` are writable; `scan_stats` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn procuring_walk_stat(
    s: *mut procuring_scanner,
    heads: *mut StatHead,
    stats: *mut StatFields,
    cap: usize,
    n: *mut usize,
    arena: *mut *const u8,
    arena_len: *mut usize,
    scan_stats: *mut ScanStats,
) -> i32 {
    guard(|| {
        let c = match claim(s) {
            Ok(c) => c,
            Err(code) => return code,
        };
        if n.is_null() || arena.is_null() || arena_len.is_null() {
            set_error("n, arena or arena_len is NULL");
            return PROCURING_ERR_INVALID_ARG;
        }
        if cap != 0 && (heads.is_null() || stats.is_null()) {
            set_error("heads or stats is NULL with a non-zero cap");
            return PROCURING_ERR_INVALID_ARG;
        }
        let (heads, stats) = if cap == 0 {
            (&mut [][..], &mut [][..])
        } else {
            // SAFETY: non-null; the caller promises `cap` writable elements each, not aliased
            // during the call. Every bit pattern is a valid StatHead / StatFields (integers).
            unsafe {
                (
                    std::slice::from_raw_parts_mut(heads, cap),
                    std::slice::from_raw_parts_mut(stats, cap),
                )
            }
        };
        let mut count = 0;
        let code = finish_scan(c, |sc| {
            let w = sc.walk_stat_into(heads, stats)?;
            count = w.count;
            // SAFETY: `n`, `arena`, `arena_len` are non-null and writable; `scan_stats` is
            // NULL or writable.
            unsafe {
                n.write(w.count);
                arena.write(w.arena.as_ptr());
                arena_len.write(w.arena.len());
                if !scan_stats.is_null() {
                    scan_stats.write(w.stats);
                }
            }
            Ok(())
        });
        if code != PROCURING_OK {
            return code;
        }
        if count > cap {
            set_error(format!("{count} processes do not fit in {cap}"));
            return PROCURING_ERR_BUFFER_TOO_SMALL;
        }
        PROCURING_OK
    })
}

/// Fills `*out` with a view of the last scan (empty before the first scan).
///
/// # Safety
/// `s` is NULL or a live handle; `out` is NULL or writable. The snapshot's pointers are valid until the next scan or free of `s`.
#[no_mangle]
pub unsafe extern "C" fn procuring_snapshot_get(
    s: *const procuring_scanner,
    out: *mut procuring_snapshot,
) -> i32 {
    guard(|| {
        let mut c = match claim(s) {
            Ok(c) => c,
            Err(code) => return code,
        };
        if out.is_null() {
            set_error("out is NULL");
            return PROCURING_ERR_INVALID_ARG;
        }
        let snap = c.inner().scanner.snapshot();
        let v = procuring_snapshot {
            records: snap.records().as_ptr(),
            count: snap.records().len(),
            arena: snap.arena().as_ptr(),
            arena_len: snap.arena().len(),
            stats: *snap.stats(),
        };
        // SAFETY: `out` is non-null and writable.
        unsafe { out.write(v) };
        PROCURING_OK
    })
}

/// The engine that runs: "uring" or "sync" (static string; "" for a NULL scanner).
///
/// # Safety
/// `s` is NULL or a live handle from `procuring_scanner_new`.
#[no_mangle]
pub unsafe extern "C" fn procuring_engine_name(s: *const procuring_scanner) -> *const c_char {
    if s.is_null() {
        return c"".as_ptr();
    }
    // SAFETY: non-null scanner from procuring_scanner_new (contract); `engine` is immutable.
    match unsafe { &*s }.engine {
        EngineKind::Uring => c"uring".as_ptr(),
        EngineKind::Sync => c"sync".as_ptr(),
        EngineKind::Bpf => c"bpf".as_ptr(),
        EngineKind::Auto => c"auto".as_ptr(),
    }
}

/// Why this engine runs (the rule `auto` applied: bpf, or why not; or why io_uring was
/// refused). Valid while the scanner lives; "" for a NULL scanner.
///
/// # Safety
/// `s` is NULL or a live handle; the string is valid until `s` is freed.
#[no_mangle]
pub unsafe extern "C" fn procuring_engine_reason(s: *const procuring_scanner) -> *const c_char {
    if s.is_null() {
        return c"".as_ptr();
    }
    // SAFETY: non-null scanner from procuring_scanner_new (contract).
    unsafe { &*s }.engine_reason.as_ptr()
}

/// Descriptors the scanner holds open, and the cap it applies (either pointer may be NULL).
///
/// # Safety
/// `s` is NULL or a live handle; `held` and `cap` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn procuring_held_fds(
    s: *const procuring_scanner,
    held: *mut u32,
    cap: *mut u32,
) -> i32 {
    guard(|| {
        let mut c = match claim(s) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let sc = &c.inner().scanner;
        if !held.is_null() {
            // SAFETY: non-null and writable per the contract.
            unsafe { held.write(sc.held_fds()) };
        }
        if !cap.is_null() {
            // SAFETY: non-null and writable per the contract.
            unsafe { cap.write(sc.held_fd_cap()) };
        }
        PROCURING_OK
    })
}

/// Name of a file index (`PROCURING_FILE_*`): "stat", "status", ...; "" when out of range.
#[no_mangle]
pub extern "C" fn procuring_file_name(file: u32) -> *const c_char {
    const NAMES: [&CStr; crate::FILE_COUNT] = [
        c"stat",
        c"status",
        c"io",
        c"comm",
        c"cmdline",
        c"exe",
        c"cgroup",
        c"environ",
        c"schedstat",
    ];
    NAMES.get(file as usize).map_or(c"".as_ptr(), |n| n.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_files() {
        for f in crate::ProcFile::ALL {
            // SAFETY: static NUL-terminated strings.
            let n = unsafe { CStr::from_ptr(procuring_file_name(f as u32)) };
            assert_eq!(n.to_bytes(), f.name().as_bytes());
        }
    }

    #[test]
    fn null_handles_are_errors() {
        // SAFETY: NULL handles are allowed (and refused with an error).
        assert_eq!(unsafe { procuring_scan(std::ptr::null_mut()) }, PROCURING_ERR_INVALID_ARG);
        // SAFETY: procuring_last_error never returns NULL.
        let msg = unsafe { CStr::from_ptr(procuring_last_error()) };
        assert_eq!(msg.to_str().unwrap(), "scanner is NULL");
        // SAFETY: NULL is ignored.
        unsafe { procuring_scanner_free(std::ptr::null_mut()) };
    }

    #[test]
    fn bad_struct_size() {
        let mut o = std::mem::MaybeUninit::<procuring_options>::uninit();
        // SAFETY: `o` is writable storage for one procuring_options.
        assert_eq!(unsafe { procuring_options_init(o.as_mut_ptr()) }, 0);
        // SAFETY: initialised just above.
        let mut o = unsafe { o.assume_init() };
        o.struct_size = 4;
        let mut out = std::ptr::null_mut();
        // SAFETY: `o` and `out` are live locals.
        assert_eq!(unsafe { procuring_scanner_new(&o, &mut out) }, PROCURING_ERR_INVALID_ARG);
        assert!(out.is_null());
    }
}
