//! `/proc/<pid>/schedstat`: three decimal numbers separated by single spaces, then a newline.
//! Fields a future kernel may append after the third are ignored (as `stat`'s).

use super::{err, u64_dec, ParseError};
use crate::record::SchedstatFields;

/// Parses `buf` into `out`.
pub fn parse(buf: &[u8], out: &mut SchedstatFields) -> Result<(), ParseError> {
    let r = parse_inner(buf, out);
    if r.is_err() {
        *out = SchedstatFields::default();
    }
    r
}

fn parse_inner(buf: &[u8], out: &mut SchedstatFields) -> Result<(), ParseError> {
    let line = buf.strip_suffix(b"\n").unwrap_or(buf);
    let mut it = line.split(|&c| c == b' ');
    let mut next = || it.next().ok_or(err("schedstat: fewer than 3 fields"));
    out.run_ns = u64_dec(next()?)?;
    out.wait_ns = u64_dec(next()?)?;
    out.timeslices = u64_dec(next()?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let mut s = SchedstatFields::default();
        parse(b"977324 88216 5\n", &mut s).unwrap();
        assert_eq!(s, SchedstatFields { run_ns: 977324, wait_ns: 88216, timeslices: 5 });
        parse(b"0 0 0", &mut s).unwrap();
        assert_eq!(s, SchedstatFields::default());
        parse(b"1 2 3 future fields\n", &mut s).unwrap();
        assert_eq!(s, SchedstatFields { run_ns: 1, wait_ns: 2, timeslices: 3 });
        for bad in [
            &b""[..],
            b"1 2\n",
            b"1 2 3\t4\n",
            b"1  2 3\n",
            b"1 2 x\n",
            b"-1 2 3\n",
            b"1 2 3\n\n",
            b"99999999999999999999 1 1\n",
        ] {
            s = SchedstatFields { run_ns: 1, wait_ns: 1, timeslices: 1 };
            assert!(parse(bad, &mut s).is_err(), "{:?}", String::from_utf8_lossy(bad));
            assert_eq!(s, SchedstatFields::default());
        }
    }
}
