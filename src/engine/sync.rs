//! The plain-syscall engine: `pread` on a held fd, or `openat` + `pread` (+ `close`).

use std::os::fd::RawFd;

use super::{Engine, Failure, Handle, Req, NO_HANDLE};
use crate::sys;

/// `open_flags`: extra `openat` flags (`O_NONBLOCK` under a root that is not procfs).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SyncEngine {
    pub open_flags: i32,
}

impl SyncEngine {
    /// Performs every request (the engine never fails as a whole).
    pub(crate) fn read_all(self, root: RawFd, reqs: &mut [Req], buf: &mut [u8]) {
        for r in reqs {
            let dst = &mut buf[r.off as usize..(r.off + r.cap) as usize];
            let res = |x: Result<usize, i32>| x.map_or_else(|e| -e, |n| n as i32);
            if r.held != NO_HANDLE {
                r.res = res(sys::pread(r.held as RawFd, dst, 0));
                continue;
            }
            let mut path = [0u8; 32];
            let n = r.file.format_path(r.pid, &mut path);
            match sys::open_at(root, &path[..n], self.open_flags) {
                Err(e) => r.res = -e,
                Ok(fd) => {
                    r.res = res(sys::pread(fd, dst, 0));
                    if r.keep && r.res >= 0 {
                        r.new_held = fd as Handle;
                    } else {
                        sys::close(fd);
                    }
                }
            }
        }
    }
}

impl Engine for SyncEngine {
    fn read(&mut self, root: RawFd, reqs: &mut [Req], buf: &mut [u8]) -> Result<(), Failure> {
        self.read_all(root, reqs, buf);
        Ok(())
    }

    fn chunk(&self) -> usize {
        // 16 requests of at most 2 KiB: the buffer stays in L1/L2 between read and parse.
        16
    }

    fn release(&mut self, h: Handle) {
        sys::close(h as RawFd);
    }
}
