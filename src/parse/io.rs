//! `/proc/<pid>/io`: seven `key: value` lines, all required.

use super::{err, i64_dec, trim, u64_dec, ParseError};
use crate::record::IoFields;

/// Parses `buf` into `out`.
pub fn parse(buf: &[u8], out: &mut IoFields) -> Result<(), ParseError> {
    let r = parse_inner(buf, out);
    if r.is_err() {
        *out = IoFields::default();
    }
    r
}

fn parse_inner(buf: &[u8], out: &mut IoFields) -> Result<(), ParseError> {
    let mut seen = 0u8;
    for line in buf.split(|&c| c == b'\n') {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let v = trim(&line[colon + 1..]);
        let (bit, slot) = match &line[..colon] {
            b"rchar" => (0, &mut out.rchar),
            b"wchar" => (1, &mut out.wchar),
            b"syscr" => (2, &mut out.syscr),
            b"syscw" => (3, &mut out.syscw),
            b"read_bytes" => (4, &mut out.read_bytes),
            b"write_bytes" => (5, &mut out.write_bytes),
            b"cancelled_write_bytes" => {
                out.cancelled_write_bytes = i64_dec(v)?;
                seen |= 1 << 6;
                continue;
            }
            _ => continue,
        };
        *slot = u64_dec(v)?;
        seen |= 1 << bit;
    }
    if seen != 0x7f {
        return Err(err("io: missing keys"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let mut io = IoFields::default();
        parse(
            b"rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 6\n\
cancelled_write_bytes: -7\n",
            &mut io,
        )
        .unwrap();
        assert_eq!(
            io,
            IoFields {
                rchar: 1,
                wchar: 2,
                syscr: 3,
                syscw: 4,
                read_bytes: 5,
                write_bytes: 6,
                cancelled_write_bytes: -7
            }
        );
        assert!(parse(b"rchar: 1\n", &mut io).is_err());
        assert_eq!(io, IoFields::default());
        assert!(parse(b"rchar: x\n", &mut io).is_err());
    }
}
