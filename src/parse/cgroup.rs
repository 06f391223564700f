//! `/proc/<pid>/cgroup`: `hierarchy-id:controllers:path` lines (v2: `0::/path`). The path may
//! itself contain `:`, so a line splits on its first two colons only.

use super::{err, i64_dec, ParseError};

/// One line of `cgroup`, borrowing the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupLine<'a> {
    /// Hierarchy id (0 for cgroup v2).
    pub hierarchy_id: i64,
    /// Comma-separated controllers (empty for v2).
    pub controllers: &'a [u8],
    /// Path relative to the hierarchy's mount point.
    pub path: &'a [u8],
}

impl<'a> CgroupLine<'a> {
    /// The controllers, split on `,` (none when empty).
    pub fn controller_list(&self) -> impl Iterator<Item = &'a [u8]> {
        let c = self.controllers;
        c.split(|&b| b == b',').filter(move |_| !c.is_empty())
    }
}

/// Parses one line (without its newline).
pub fn line(l: &[u8]) -> Result<CgroupLine<'_>, ParseError> {
    let mut parts = l.splitn(3, |&c| c == b':');
    let id = parts.next().unwrap_or_default();
    let controllers = parts.next().ok_or(err("cgroup: fewer than 3 fields"))?;
    let path = parts.next().ok_or(err("cgroup: fewer than 3 fields"))?;
    Ok(CgroupLine { hierarchy_id: i64_dec(id)?, controllers, path })
}

/// Every line of a `cgroup` file.
pub fn lines(buf: &[u8]) -> impl Iterator<Item = Result<CgroupLine<'_>, ParseError>> {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    let empty = buf.is_empty();
    body.split(|&c| c == b'\n').filter(move |_| !empty).map(line)
}

/// Checks that every line parses (what the scanner does before accepting the file).
pub fn validate(buf: &[u8]) -> Result<(), ParseError> {
    lines(buf).try_for_each(|l| l.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2() {
        let v: Vec<_> =
            lines(b"12:cpu,cpuacct:/a:b\n0::/user.slice\n").collect::<Result<_, _>>().unwrap();
        assert_eq!(v[0].hierarchy_id, 12);
        assert_eq!(v[0].controller_list().collect::<Vec<_>>(), vec![&b"cpu"[..], b"cpuacct"]);
        assert_eq!(v[0].path, b"/a:b");
        assert_eq!(v[1].controller_list().count(), 0);
        assert_eq!(lines(b"").count(), 0);
        assert!(validate(b"x::/\n").is_err());
        assert!(validate(b"0:/\n").is_err());
    }
}
