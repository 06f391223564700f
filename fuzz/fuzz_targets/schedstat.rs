//! `parse::schedstat::parse`: never panics; on error all zero; on success equal to a reference
//! decoding (three unsigned decimals separated by single spaces, then anything after one more
//! space; one optional final newline).
#![no_main]

mod common;
use common::*;
use libfuzzer_sys::fuzz_target;
use procuring::{parse, SchedstatFields};

fn reference(data: &[u8]) -> Option<SchedstatFields> {
    let line = data.strip_suffix(b"\n").unwrap_or(data);
    let v: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
    if v.len() < 3 {
        return None;
    }
    Some(SchedstatFields {
        run_ns: ref_u64(v[0])?,
        wait_ns: ref_u64(v[1])?,
        timeslices: ref_u64(v[2])?,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut out = SchedstatFields { run_ns: 1, wait_ns: 2, timeslices: 3 };
    let r = parse::schedstat::parse(data, &mut out);
    match (r, reference(data)) {
        (Ok(()), Some(want)) => assert_eq!(out, want),
        (Err(_), None) => {
            assert_eq!(out, SchedstatFields::default(), "refused schedstat left fields behind")
        }
        (r, want) => panic!("parser {r:?} / {out:?}, reference {want:?}"),
    }
});
