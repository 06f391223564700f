//! `parse::stat::parse` and `state`: never panics; on error the fields are all zero; on success
//! the comm is the input's bytes from the first `(` to the last `)`, the fields equal a
//! reference decoding of proc(5) fields 4-44, and nothing depends on what `out` held before.
#![no_main]

mod common;
use common::*;
use libfuzzer_sys::fuzz_target;
use procuring::{parse, StatFields, StrRef};

/// Field separators: ASCII whitespace and the vertical tab, as Go's scanner (and the library).
fn ws(c: &u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

fn reference(data: &[u8]) -> Option<(usize, usize, StatFields)> {
    let l = data.iter().position(|&c| c == b'(')?;
    let r = data.iter().rposition(|&c| c == b')')?;
    if r < l {
        return None;
    }
    let toks: Vec<&[u8]> = data[r + 1..].split(ws).filter(|t| !t.is_empty()).collect();
    if toks.len() < 42 {
        return None;
    }
    let f = |n: usize| toks[n - 3];
    // Unsigned fields take an optional '+' like the signed ones (never printed by the kernel).
    let u = |n: usize| ref_u64(f(n).strip_prefix(b"+").unwrap_or(f(n)));
    let i = |n: usize| ref_i64(f(n));
    for n in 29..=37 {
        u(n)?;
    }
    i(21)?;
    i(38)?;
    let s = StatFields {
        comm: StrRef::default(),
        ppid: i(4)?,
        pgrp: i(5)?,
        session: i(6)?,
        tty: i(7)?,
        tpgid: i(8)?,
        flags: u(9)?,
        minflt: u(10)?,
        cminflt: u(11)?,
        majflt: u(12)?,
        cmajflt: u(13)?,
        utime: u(14)?,
        stime: u(15)?,
        cutime: i(16)?,
        cstime: i(17)?,
        priority: i(18)?,
        nice: i(19)?,
        num_threads: i(20)?,
        starttime: u(22)?,
        vsize: u(23)?,
        rss: i(24)?,
        rsslim: u(25)?,
        startcode: u(26)?,
        endcode: u(27)?,
        startstack: u(28)?,
        processor: u(39)?,
        rt_priority: u(40)?,
        policy: u(41)?,
        delayacct_blkio_ticks: u(42)?,
        guest_time: i(43)?,
        cguest_time: i(44)?,
    };
    Some((l, r, s))
}

fuzz_target!(|data: &[u8]| {
    // One run from garbage, one from zero: a missed reset or a stale field shows as a difference.
    let mut dirty = StatFields {
        comm: StrRef { off: 9, len: 9 },
        utime: 0xdead,
        starttime: 7,
        ppid: -3,
        cguest_time: 5,
        ..Default::default()
    };
    let mut clean = StatFields::default();
    let rd = parse::stat::parse(data, &mut dirty);
    let rc = parse::stat::parse(data, &mut clean);
    let want = reference(data);
    match (rd, rc) {
        (Err(_), Err(_)) => {
            assert_eq!(dirty, StatFields::default(), "refused stat left fields behind");
            assert_eq!(clean, StatFields::default());
            assert!(
                want.is_none(),
                "refused a stat the reference decodes: {:?}",
                want.map(|w| w.2)
            );
        }
        (Ok(cd), Ok(cc)) => {
            assert_eq!(cd, cc);
            assert!(within(data, cd), "comm outside the input");
            let (l, r, fields) = want.expect("accepted a stat the reference refuses");
            assert_eq!(
                (offset(data, cd), cd.len()),
                (l + 1, r - l - 1),
                "comm is not first '(' to last ')'"
            );
            assert_eq!(clean, fields, "fields differ from the reference");
            dirty.comm = StrRef::default();
            assert_eq!(dirty, clean, "result depends on the previous content");
            let st = parse::stat::state(data);
            let first = data[r + 1..].iter().copied().find(|c| !ws(c)).unwrap();
            assert_eq!(st, first);
        }
        _ => panic!("same input, different outcome"),
    }
});
