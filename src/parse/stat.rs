//! `/proc/<pid>/stat`: `pid (comm) state ppid ...`. The comm may hold spaces, parentheses and
//! newlines, so it runs from the first `(` to the last `)`, as the kernel and procfs agree.

use super::{err, i64_dec, u64_dec, ParseError};
use crate::record::StatFields;

/// Number of fields after `comm` this parser needs (up to `cguest_time`, field 44 of proc(5));
/// later fields from newer kernels are ignored.
const NEEDED: usize = 42;

/// Parses `buf` into `out` and returns the comm bytes (between the parentheses). `out.comm` is
/// left for the caller to point at its own copy.
pub fn parse<'a>(buf: &'a [u8], out: &mut StatFields) -> Result<&'a [u8], ParseError> {
    let r = parse_inner(buf, out);
    if r.is_err() {
        *out = StatFields::default();
    }
    r
}

fn parse_inner<'a>(buf: &'a [u8], out: &mut StatFields) -> Result<&'a [u8], ParseError> {
    let l = buf.iter().position(|&c| c == b'(').ok_or(err("stat: no '('"))?;
    let r = buf.iter().rposition(|&c| c == b')').ok_or(err("stat: no ')'"))?;
    if r < l {
        return Err(err("stat: ')' before '('"));
    }
    let comm = &buf[l + 1..r];
    let mut it = buf[r + 1..]
        .split(|c| c.is_ascii_whitespace())
        .filter(|t| !t.is_empty());
    let mut tok = [&b""[..]; NEEDED];
    for t in tok.iter_mut() {
        *t = it.next().ok_or(err("stat: too few fields"))?;
    }
    // tok[0] is field 3 (state); field n of proc(5) is tok[n - 3].
    let u = |n: usize| u64_dec(tok[n - 3]);
    let i = |n: usize| i64_dec(tok[n - 3]);
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
    for n in 29..=37 {
        u(n)?; // kstkesp .. cnswap: checked like procfs, not kept
    }
    i(38)?; // exit_signal
    out.processor = u(39)?;
    out.rt_priority = u(40)?;
    out.policy = u(41)?;
    out.delayacct_blkio_ticks = u(42)?;
    out.guest_time = i(43)?;
    out.cguest_time = i(44)?;
    Ok(comm)
}

/// The state letter (field 3). Only valid after [`parse`] succeeded on the same buffer.
pub fn state(buf: &[u8]) -> u8 {
    let r = buf.iter().rposition(|&c| c == b')').unwrap_or(0);
    buf[r + 1..].iter().copied().find(|c| !c.is_ascii_whitespace()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"1234 (a) b(c)) S 1 1234 1234 0 -1 4194560 137 0 0 0 3 5 0 0 20 0 1 0 \
        12345 4710400 384 18446744073709551615 94 95 140 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn hostile_comm() {
        let mut s = StatFields::default();
        let comm = parse(LINE, &mut s).unwrap();
        assert_eq!(comm, b"a) b(c)");
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
    }

    #[test]
    fn every_prefix_is_refused_or_parsed() {
        for n in 0..LINE.len() {
            let mut s = StatFields::default();
            let _ = parse(&LINE[..n], &mut s);
        }
    }
}
