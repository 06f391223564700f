//! The floors: the syscalls the kernel serves anyway, made with libc directly, one reused
//! buffer, no parsing, no allocation.

use std::hint::black_box;
use std::os::fd::RawFd;

use procuring::{FileSet, ProcFile};

use crate::system::proc_pids;

/// Descriptors open on `files` of every process, closed on drop.
pub struct FloorFds(pub Vec<RawFd>);

impl FloorFds {
    pub fn open(files: FileSet) -> FloorFds {
        let mut fds = Vec::new();
        for pid in proc_pids() {
            for f in files.iter() {
                let p = std::ffi::CString::new(format!("/proc/{pid}/{}", f.name())).unwrap();
                // SAFETY: a plain open of a NUL-terminated path.
                let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
                if fd >= 0 {
                    fds.push(fd);
                }
            }
        }
        FloorFds(fds)
    }

    pub fn read_all(&self, buf: &mut [u8]) -> usize {
        let mut total = 0;
        for &fd in &self.0 {
            // SAFETY: buf is a valid writable buffer of buf.len() bytes.
            let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            total += n.max(0) as usize;
        }
        total
    }
}

impl Drop for FloorFds {
    fn drop(&mut self) {
        for &fd in &self.0 {
            // SAFETY: closing descriptors this struct opened.
            unsafe { libc::close(fd) };
        }
    }
}

/// `/proc` held open as a directory, with a reused 64 KiB buffer for `getdents64`.
pub struct ProcDir {
    fd: RawFd,
    buf: Vec<u8>,
}

impl ProcDir {
    pub fn open() -> ProcDir {
        // SAFETY: a plain open of a NUL-terminated path.
        let fd = unsafe {
            libc::open(c"/proc".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
        };
        assert!(fd >= 0, "open /proc: {}", std::io::Error::last_os_error());
        ProcDir { fd, buf: vec![0u8; 64 * 1024] }
    }

    /// Rewinds and reads every entry, calling `f` with each numeric name; returns their count.
    pub fn for_each_pid(&mut self, mut f: impl FnMut(u32)) -> usize {
        // SAFETY: lseek on a descriptor this struct owns.
        unsafe { libc::lseek(self.fd, 0, libc::SEEK_SET) };
        let mut count = 0;
        loop {
            // SAFETY: buf is valid for buf.len() bytes of writes; the kernel writes whole
            // linux_dirent64 records into it.
            let n = unsafe {
                libc::syscall(libc::SYS_getdents64, self.fd, self.buf.as_mut_ptr(), self.buf.len())
            };
            if n <= 0 {
                break;
            }
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, NUL-terminated name.
            let mut b = &self.buf[..n as usize];
            while b.len() >= 20 {
                let reclen = u16::from_ne_bytes([b[16], b[17]]) as usize;
                if reclen < 20 || reclen > b.len() {
                    break;
                }
                let mut pid = 0u32;
                let mut digits = 0;
                for &c in &b[19..reclen] {
                    if !c.is_ascii_digit() {
                        if c != 0 {
                            digits = 0;
                        }
                        break;
                    }
                    pid = pid.wrapping_mul(10).wrapping_add((c - b'0') as u32);
                    digits += 1;
                }
                if digits > 0 {
                    count += 1;
                    f(pid);
                }
                b = &b[reclen..];
            }
        }
        count
    }
}

impl Drop for ProcDir {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this struct opened.
        unsafe { libc::close(self.fd) };
    }
}

/// The cold floor: one listing, then every file of `FileSet::ALL` of every listed pid opened,
/// read whole into `buf` and closed (`exe` read with `readlinkat`). Returns the pids listed.
pub fn cold_floor(dir: &mut ProcDir, buf: &mut [u8]) -> usize {
    let root = dir.fd;
    dir.for_each_pid(|pid| {
        let mut path = [0u8; 32];
        for f in FileSet::ALL.iter() {
            f.format_path(pid, &mut path);
            if f == ProcFile::Exe {
                // SAFETY: path is NUL-terminated; buf is valid for buf.len() bytes of writes.
                let n = unsafe {
                    libc::readlinkat(root, path.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len())
                };
                black_box(n);
                continue;
            }
            // SAFETY: path is NUL-terminated; root is the open /proc directory.
            let fd = unsafe {
                libc::openat(root, path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC)
            };
            if fd < 0 {
                continue;
            }
            loop {
                // SAFETY: buf is valid for buf.len() bytes of writes; fd was opened above.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n < buf.len() as isize {
                    break; // a short read is the whole file (0 at EOF, < 0 on error)
                }
            }
            // SAFETY: closing the descriptor opened above.
            unsafe { libc::close(fd) };
        }
    })
}
