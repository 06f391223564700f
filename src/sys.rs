//! Thin wrappers over the plain syscalls the scanner uses. Every `unsafe` block of the sync path
//! lives here; callers get `Result<_, i32>` with the positive `errno`.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Opens a directory (the proc root) with `O_CLOEXEC`.
pub(crate) fn open_dir(path: &CStr) -> Result<OwnedFd, i32> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let fd =
        unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat(dir, path, O_RDONLY | O_CLOEXEC | extra)`; `path` must end with a NUL. `extra` is 0
/// or `O_NONBLOCK` (roots that are not procfs: a FIFO must not block the scan).
pub(crate) fn open_at(dir: RawFd, path: &[u8], extra: i32) -> Result<RawFd, i32> {
    debug_assert_eq!(path.last(), Some(&0));
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | extra;
    // SAFETY: `path` is NUL-terminated (checked by the caller's construction) and outlives the call.
    let fd = unsafe { libc::openat(dir, path.as_ptr().cast(), flags) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// `pread(fd, buf, offset)`, again after `EINTR` (a signal: procfs reads of another process's
/// memory, `cmdline` and `environ`, are interruptible).
pub(crate) fn pread(fd: RawFd, buf: &mut [u8], offset: u64) -> Result<usize, i32> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
        let n =
            unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset as libc::off_t) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Closes a descriptor this crate opened and owns.
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again; errors of close on procfs are moot.
    unsafe {
        libc::close(fd);
    }
}

/// `readlinkat(dir, path, buf)`; `path` must end with a NUL. Returns the length written; a
/// length equal to `buf.len()` may be truncated.
pub(crate) fn readlink_at(dir: RawFd, path: &[u8], buf: &mut [u8]) -> Result<usize, i32> {
    debug_assert_eq!(path.last(), Some(&0));
    // SAFETY: `path` is NUL-terminated; `buf` is valid for `buf.len()` bytes of writes.
    let n =
        unsafe { libc::readlinkat(dir, path.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

/// One `getdents64` call into `buf`; returns the bytes filled (0 at the end).
pub(crate) fn getdents64(dir: &OwnedFd, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of writes; the kernel writes whole
    // `linux_dirent64` records into it.
    let n = unsafe {
        libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len())
    };
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

/// `lseek(dir, 0, SEEK_SET)`: rewinds a directory for the next listing.
pub(crate) fn rewind(dir: &OwnedFd) -> Result<(), i32> {
    // SAFETY: plain syscall on a descriptor we own.
    if unsafe { libc::lseek(dir.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// The soft `RLIMIT_NOFILE`.
pub(crate) fn nofile_soft_limit() -> u64 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `r` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 1024;
    }
    r.rlim_cur
}

/// `statfs(dir).f_type`, to tell procfs from a fixture directory.
pub(crate) fn fs_magic(dir: &OwnedFd) -> Result<i64, i32> {
    // SAFETY: zeroed statfs is a valid out-parameter; fstatfs fills it.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `s` is writable; `dir` is an open descriptor.
    if unsafe { libc::fstatfs(dir.as_raw_fd(), &mut s) } != 0 {
        return Err(errno());
    }
    Ok(s.f_type as i64)
}

/// Number of online CPUs.
pub(crate) fn cpu_count() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// `openat(dir, path)` as an owned descriptor; `path` must end with a NUL.
pub(crate) fn open_owned_at(dir: &OwnedFd, path: &[u8]) -> Result<OwnedFd, i32> {
    let fd = open_at(dir.as_raw_fd(), path, 0)?;
    // SAFETY: `fd` was just returned by openat(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The mount id of the mount `dir` is on (`statx` `STATX_MNT_ID`, Linux 5.8+), as printed in the
/// first column of `/proc/self/mountinfo`.
pub(crate) fn mount_id(dir: &OwnedFd) -> Result<u64, i32> {
    // SAFETY: zeroed statx is a valid out-parameter; statx fills it.
    let mut s: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a static empty C string, `s` is writable, `dir` is an open descriptor.
    let r = unsafe {
        libc::statx(dir.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_MNT_ID, &mut s)
    };
    if r != 0 {
        return Err(errno());
    }
    if s.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(libc::ENOSYS);
    }
    Ok(s.stx_mnt_id)
}

/// Owner (uid, gid) of `dir/path` (`fstatat`); `path` must end with a NUL. For `/proc/<pid>`
/// this is the process's effective uid and gid (root when it is not dumpable).
pub(crate) fn owner_at(dir: RawFd, path: &[u8]) -> Result<(u32, u32), i32> {
    debug_assert_eq!(path.last(), Some(&0));
    // SAFETY: zeroed stat is a valid out-parameter; fstatat fills it.
    let mut s: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated, `s` is writable.
    if unsafe { libc::fstatat(dir, path.as_ptr().cast(), &mut s, 0) } != 0 {
        return Err(errno());
    }
    Ok((s.st_uid, s.st_gid))
}

/// Asks the CPU to start loading the cache line of `p` (a hint: no fault, no effect on
/// results, any address allowed). A no-op where no stable prefetch intrinsic exists.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 never faults and has no architectural effect; SSE is part of the
    // x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
