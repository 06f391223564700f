//! `/proc/<pid>/stat`: `pid (comm) state ppid ...`. The comm may hold spaces, parentheses and
//! newlines, so it runs from the first `(` to the last `)`, as the kernel and procfs agree.

use super::{err, ParseError};
use crate::record::StatFields;

/// Number of fields after `comm` this parser needs (up to `cguest_time`, field 44 of proc(5));
/// later fields from newer kernels are ignored.
const NEEDED: usize = 42;

/// Parses `buf` into `out` and returns the comm bytes (between the parentheses). `out.comm` is
/// left for the caller to point at its own copy.
pub fn parse<'a>(buf: &'a [u8], out: &mut StatFields) -> Result<&'a [u8], ParseError> {
    parse_with_state(buf, out).map(|(comm, _)| comm)
}

/// As [`parse`], also returning the state letter (field 3).
pub fn parse_with_state<'a>(
    buf: &'a [u8],
    out: &mut StatFields,
) -> Result<(&'a [u8], u8), ParseError> {
    let r = parse_inner(buf, out);
    if r.is_err() {
        *out = StatFields::default();
    }
    r
}

/// Index of the last `n` in `hay`, eight bytes at a time (the comm's closing parenthesis is
/// ~250 bytes from the end of a stat line; a byte loop was a quarter of this parser's time).
fn rfind(hay: &[u8], n: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO * n as u64;
    let mut end = hay.len();
    while end >= 8 {
        let w = u64::from_le_bytes(hay[end - 8..end].try_into().unwrap_or_default()) ^ pat;
        // Non-zero exactly when some byte of the word equals `n`.
        if w.wrapping_sub(LO) & !w & HI != 0 {
            return (end - 8..end).rev().find(|&j| hay[j] == n);
        }
        end -= 8;
    }
    hay[..end].iter().rposition(|&c| c == n)
}

/// Whitespace as Go's scanner and the kernel's format agree on.
fn ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

/// One pass over the fields after the comm: each number is parsed where it stands (no token
/// iterator, no second scan for the state), which is most of this parser's cost per process.
fn parse_inner<'a>(buf: &'a [u8], out: &mut StatFields) -> Result<(&'a [u8], u8), ParseError> {
    let l = buf.iter().position(|&c| c == b'(').ok_or(err("stat: no '('"))?;
    let r = rfind(buf, b')').ok_or(err("stat: no ')'"))?;
    if r < l {
        return Err(err("stat: ')' before '('"));
    }
    let comm = &buf[l + 1..r];
    let b = &buf[r + 1..];
    let mut i = 0;
    // vals[k] is field k + 3 of proc(5); field 3 (state) is not a number.
    let mut vals = [0u64; NEEDED];
    let mut neg = 0u64;
    let mut state = 0u8;
    for (k, v) in vals.iter_mut().enumerate() {
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        if i == b.len() {
            return Err(err("stat: too few fields"));
        }
        if k == 0 {
            state = b[i];
            while i < b.len() && !ws(b[i]) {
                i += 1;
            }
            continue;
        }
        match b[i] {
            b'-' => {
                neg |= 1 << k;
                i += 1;
            }
            b'+' => i += 1,
            _ => {}
        }
        let start = i;
        let mut n: u64 = 0;
        while i < b.len() {
            let d = b[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = n.wrapping_mul(10).wrapping_add(d as u64);
            i += 1;
        }
        if i == start || (i < b.len() && !ws(b[i])) {
            return Err(err("stat: bad number"));
        }
        // 19 digits always fit in 64 bits; only longer tokens need the checked parse.
        *v = if i - start > 19 {
            super::u64_dec(&b[start..i]).map_err(|_| err("stat: number overflows 64 bits"))?
        } else {
            n
        };
    }
    let u = |f: usize| -> Result<u64, ParseError> {
        if neg & (1 << (f - 3)) != 0 {
            return Err(err("stat: negative unsigned field"));
        }
        Ok(vals[f - 3])
    };
    let i = |f: usize| -> Result<i64, ParseError> {
        let m = vals[f - 3];
        if neg & (1 << (f - 3)) != 0 {
            if m > i64::MAX as u64 + 1 {
                return Err(err("stat: number overflows 64 bits"));
            }
            Ok((m as i64).wrapping_neg())
        } else {
            i64::try_from(m).map_err(|_| err("stat: number overflows 64 bits"))
        }
    };
    out.ppid = i(4)?;
    out.pgrp = i(5)?;
    out.session = i(6)?;
    out.tty = i(7)?;
    out.tpgid = i(8)?;
    out.flags = u(9)?;
    out.minflt = u(10)?;
    out.cminflt = u(11)?;
    out.majflt = u(12)?;
    out.cmajflt = u(13)?;
    out.utime = u(14)?;
    out.stime = u(15)?;
    out.cutime = i(16)?;
    out.cstime = i(17)?;
    out.priority = i(18)?;
    out.nice = i(19)?;
    out.num_threads = i(20)?;
    i(21)?; // itrealvalue, always 0
    out.starttime = u(22)?;
    out.vsize = u(23)?;
    out.rss = i(24)?;
    out.rsslim = u(25)?;
    out.startcode = u(26)?;
    out.endcode = u(27)?;
    out.startstack = u(28)?;
    for f in 29..=37 {
        u(f)?; // kstkesp .. cnswap: checked like procfs, not kept
    }
    i(38)?; // exit_signal
    out.processor = u(39)?;
    out.rt_priority = u(40)?;
    out.policy = u(41)?;
    out.delayacct_blkio_ticks = u(42)?;
    out.guest_time = i(43)?;
    out.cguest_time = i(44)?;
    Ok((comm, state))
}

/// The exec addresses `[arg_start, arg_end, env_start]` (fields 48-50 of proc(5), Linux 3.5+)
/// of a `stat` line that [`parse`] accepted, or `None` when the line has fewer fields. The
/// kernel shows them (as startcode, endcode, startstack) only to a reader allowed to ptrace the
/// process, and 0 to others.
pub fn exec_marks(buf: &[u8]) -> Option<[u64; 3]> {
    let r = rfind(buf, b')')?;
    let mut out = [0u64; 3];
    let mut fields = buf[r + 1..].split(|&c| ws(c)).filter(|t| !t.is_empty()).skip(48 - 3);
    for v in &mut out {
        *v = super::u64_dec(fields.next()?).ok()?;
    }
    Some(out)
}

/// The state letter (field 3). Only valid after [`parse`] succeeded on the same buffer.
pub fn state(buf: &[u8]) -> u8 {
    let r = buf.iter().rposition(|&c| c == b')').unwrap_or(0);
    buf[r + 1..].iter().copied().find(|&c| !ws(c)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"1234 (a) b(c)) S 1 1234 1234 0 -1 4194560 137 0 0 0 3 5 0 0 20 0 1 0 \
        12345 4710400 384 18446744073709551615 94 95 140 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn hostile_comm() {
        let mut s = StatFields::default();
        let (comm, st) = parse_with_state(LINE, &mut s).unwrap();
        assert_eq!((comm, st), (&b"a) b(c)"[..], b'S'));
        assert_eq!(state(LINE), b'S');
        assert_eq!((s.ppid, s.tpgid, s.flags), (1, -1, 4194560));
        assert_eq!((s.utime, s.stime, s.starttime, s.rss), (3, 5, 12345, 384));
        assert_eq!(s.rsslim, u64::MAX);
        assert_eq!((s.processor, s.cguest_time), (1, 0));
    }

    #[test]
    fn newline_in_comm_and_future_fields() {
        let line = b"7 (x\ny) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 1 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 \
            0 0 0 0 0 0 0 99 98\n";
        let mut s = StatFields::default();
        assert_eq!(parse(line, &mut s).unwrap(), b"x\ny");
        assert_eq!(s.starttime, 9);
    }

    #[test]
    fn refuses_garbage_and_resets() {
        let mut s = StatFields { utime: 7, ..Default::default() };
        assert!(parse(b"", &mut s).is_err());
        assert_eq!(s, StatFields::default());
        assert!(parse(b"1 (x) S 1 2", &mut s).is_err());
        assert!(parse(b"1 )x( S", &mut s).is_err());
        let bad = String::from_utf8(LINE.to_vec()).unwrap().replace(" 12345 ", " 12x45 ");
        assert!(parse(bad.as_bytes(), &mut s).is_err());
        assert_eq!(s, StatFields::default());
        let neg_unsigned = String::from_utf8(LINE.to_vec()).unwrap().replace(" 12345 ", " -12345 ");
        assert!(parse(neg_unsigned.as_bytes(), &mut s).is_err());
        let huge = String::from_utf8(LINE.to_vec())
            .unwrap()
            .replace(" 20 0 1 ", " 20 0 99999999999999999999 ");
        assert!(parse(huge.as_bytes(), &mut s).is_err(), "num_threads overflowing i64");
    }

    #[test]
    fn exec_marks_are_fields_48_to_50() {
        let line =
            b"7 (a b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 1 10 11 12 0 0 0 0 0 0 0 0 \
            0 17 0 0 0 0 0 0 13 14 15 101 102 103 104 0\n";
        assert_eq!(exec_marks(line), Some([101, 102, 103]));
        assert_eq!(exec_marks(LINE), None, "an old kernel's shorter line");
    }

    #[test]
    fn rfind_matches_rposition() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
        for n in 0..=255u8 {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 100, 200] {
                assert_eq!(
                    rfind(&hay[..len], n),
                    hay[..len].iter().rposition(|&c| c == n),
                    "{n} {len}"
                );
            }
        }
    }

    #[test]
    fn every_prefix_is_refused_or_parsed() {
        for n in 0..LINE.len() {
            let mut s = StatFields::default();
            let _ = parse(&LINE[..n], &mut s);
        }
    }
}
