//! Listing the pids under the proc root with `getdents64` and a large buffer (there is no
//! io_uring getdents). Procfs returns pids in ascending order; the listing keeps it sorted
//! either way.

use std::os::fd::OwnedFd;

use crate::sys;

/// Reusable state for listing pids.
#[derive(Debug)]
pub(crate) struct PidLister {
    buf: Vec<u8>,
}

impl PidLister {
    pub(crate) fn new() -> Self {
        // 64 KiB holds ~2,700 pid entries per call: one call for most machines.
        PidLister { buf: vec![0; 64 * 1024] }
    }

    /// Appends every numeric entry of `dir` to `out` (cleared first), ascending.
    pub(crate) fn list(&mut self, dir: &OwnedFd, out: &mut Vec<u32>) -> Result<(), i32> {
        out.clear();
        sys::rewind(dir)?;
        loop {
            let n = sys::getdents64(dir, &mut self.buf)?;
            if n == 0 {
                break;
            }
            parse_dirents(&self.buf[..n], out);
        }
        if !out.is_sorted() {
            out.sort_unstable();
            out.dedup();
        }
        Ok(())
    }
}

/// Extracts numeric names from `linux_dirent64` records:
/// `u64 ino, i64 off, u16 reclen, u8 type, char name[]`.
fn parse_dirents(mut b: &[u8], out: &mut Vec<u32>) {
    while b.len() >= 19 {
        let reclen = u16::from_ne_bytes([b[16], b[17]]) as usize;
        if reclen < 19 || reclen > b.len() {
            break;
        }
        let name = &b[19..reclen];
        let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
        if let Some(pid) = parse_pid(name) {
            out.push(pid);
        }
        b = &b[reclen..];
    }
}

fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || name[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in name {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u64;
    }
    u32::try_from(v).ok().filter(|&p| p <= i32::MAX as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse_pid(b"1"), Some(1));
        assert_eq!(parse_pid(b"2147483647"), Some(2147483647));
        assert_eq!(parse_pid(b"2147483648"), None);
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b"01"), None);
        assert_eq!(parse_pid(b""), None);
    }

    #[test]
    fn lists_own_pid() {
        let dir = sys::open_dir(c"/proc").unwrap();
        let mut l = PidLister::new();
        let mut v = Vec::new();
        l.list(&dir, &mut v).unwrap();
        assert!(v.binary_search(&std::process::id()).is_ok());
        assert!(v.is_sorted());
        let n = v.len();
        l.list(&dir, &mut v).unwrap();
        assert!(v.len() + 50 > n, "second listing (after rewind) sees the processes again");
    }
}
