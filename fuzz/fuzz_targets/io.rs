//! `parse::io::parse`: never panics; on error all zero; on success equal to a reference
//! decoding (seven keys, all required; last occurrence wins; other lines ignored).
#![no_main]

mod common;
use common::*;
use libfuzzer_sys::fuzz_target;
use procuring::{parse, IoFields};

fn reference(data: &[u8]) -> Option<IoFields> {
    let mut v: [Option<i128>; 7] = [None; 7];
    const KEYS: [&[u8]; 7] = [
        b"rchar",
        b"wchar",
        b"syscr",
        b"syscw",
        b"read_bytes",
        b"write_bytes",
        b"cancelled_write_bytes",
    ];
    for line in data.split(|&c| c == b'\n') {
        let Some(colon) = line.iter().position(|&c| c == b':') else { continue };
        let Some(k) = KEYS.iter().position(|k| *k == &line[..colon]) else { continue };
        let t = line[colon + 1..].trim_ascii();
        v[k] = Some(if k == 6 { ref_i64(t)? as i128 } else { ref_u64(t)? as i128 });
    }
    let g = |k: usize| v[k].map(|x| x as u64);
    Some(IoFields {
        rchar: g(0)?,
        wchar: g(1)?,
        syscr: g(2)?,
        syscw: g(3)?,
        read_bytes: g(4)?,
        write_bytes: g(5)?,
        cancelled_write_bytes: v[6]? as i64,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = IoFields { rchar: 1, cancelled_write_bytes: -1, ..Default::default() };
    let r = parse::io::parse(data, &mut out);
    match (r, reference(data)) {
        (Ok(()), Some(want)) => assert_eq!(out, want),
        (Err(_), None) => assert_eq!(out, IoFields::default(), "refused io left fields behind"),
        (r, want) => panic!("parser {r:?} / {out:?}, reference {want:?}"),
    }
});
