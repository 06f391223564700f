//! `/proc/<pid>/schedstat`: the kernel writes three decimal numbers separated by single
//! spaces, then a newline. Parsed as prometheus/procfs does, so that both give the same values
//! and fail on the same files: the first place where three runs of digits are separated by
//! single spaces (procfs's unanchored `(\d+) (\d+) (\d+)`), whatever comes before or after
//! (fields a future kernel appends, more lines). Those three numbers must fit in a `u64`.

use super::{err, ParseError};
use crate::record::SchedstatFields;

/// Parses `buf` into `out`.
pub fn parse(buf: &[u8], out: &mut SchedstatFields) -> Result<(), ParseError> {
    let r = parse_inner(buf, out);
    if r.is_err() {
        *out = SchedstatFields::default();
    }
    r
}

/// The end of the run of ASCII digits that starts at `i` (`i` when there is none).
fn digits_end(buf: &[u8], i: usize) -> usize {
    i + buf[i.min(buf.len())..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// The digits (any count, leading zeros allowed) as a `u64`, as Go's `strconv.ParseUint`.
fn dec(s: &[u8]) -> Result<u64, ParseError> {
    s.iter().try_fold(0u64, |v, &c| {
        v.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or(err("schedstat: number out of range"))
    })
}

fn parse_inner(buf: &[u8], out: &mut SchedstatFields) -> Result<(), ParseError> {
    let mut i = 0;
    while i < buf.len() {
        if !buf[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run of digits at i: the match starts here if two more follow, each after one space.
        let e0 = digits_end(buf, i);
        let mut spans = [(i, e0); 3];
        let mut ok = true;
        for k in 1..3 {
            let start = spans[k - 1].1 + 1;
            if buf.get(spans[k - 1].1) != Some(&b' ') || digits_end(buf, start) == start {
                ok = false;
                break;
            }
            spans[k] = (start, digits_end(buf, start));
        }
        if ok {
            out.run_ns = dec(&buf[spans[0].0..spans[0].1])?;
            out.wait_ns = dec(&buf[spans[1].0..spans[1].1])?;
            out.timeslices = dec(&buf[spans[2].0..spans[2].1])?;
            return Ok(());
        }
        i = e0;
    }
    Err(err("schedstat: no three numbers separated by single spaces"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(buf: &[u8]) -> SchedstatFields {
        let mut s = SchedstatFields::default();
        parse(buf, &mut s).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(buf)));
        s
    }

    fn f(run_ns: u64, wait_ns: u64, timeslices: u64) -> SchedstatFields {
        SchedstatFields { run_ns, wait_ns, timeslices }
    }

    #[test]
    fn fields() {
        assert_eq!(ok(b"977324 88216 5\n"), f(977324, 88216, 5));
        assert_eq!(ok(b"0 0 0"), SchedstatFields::default());
        assert_eq!(ok(b"1 2 3 future fields\n"), f(1, 2, 3));
    }

    /// What procfs's `(\d+) (\d+) (\d+)` finds: the first line of several, numbers after
    /// other text, leading zeros, anything after the third number.
    #[test]
    fn as_procfs() {
        assert_eq!(ok(b"123 456 789\n10 11\n"), f(123, 456, 789));
        assert_eq!(ok(b"1 2 3\n\n"), f(1, 2, 3));
        assert_eq!(ok(b"1 2 3\t4\n"), f(1, 2, 3));
        assert_eq!(ok(b"-1 2 3\n"), f(1, 2, 3));
        assert_eq!(ok(b"1  2 3 4\n"), f(2, 3, 4));
        assert_eq!(ok(b"x 1 2 y 7 8 9\n"), f(7, 8, 9));
        assert_eq!(ok(b"007 08 9x\n"), f(7, 8, 9));
        assert_eq!(ok(b"1 2\n3 4 5\n"), f(3, 4, 5));
        assert_eq!(ok(b"18446744073709551615 0 1\n"), f(u64::MAX, 0, 1));
        for bad in [
            &b""[..],
            b"1 2\n",
            b"1  2 3\n",
            b"1 2 x\n",
            b"1 2\t3\n",
            b"99999999999999999999 1 1\n",
            b"1 2 18446744073709551616\n",
        ] {
            let mut s = f(1, 1, 1);
            assert!(parse(bad, &mut s).is_err(), "{:?}", String::from_utf8_lossy(bad));
            assert_eq!(s, SchedstatFields::default());
        }
    }
}
