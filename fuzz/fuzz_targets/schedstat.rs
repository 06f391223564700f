//! `parse::schedstat::parse`: never panics; on error all zero; on success equal to a reference
//! decoding with procfs's semantics (the leftmost match of `(\d+) (\d+) (\d+)`, tried at each
//! byte position as a regex engine does; the three numbers then parsed, failing on overflow).
#![no_main]

use libfuzzer_sys::fuzz_target;
use procuring::{parse, SchedstatFields};

/// Greedy digits from `i`: (digits, end).
fn run(data: &[u8], i: usize) -> (&[u8], usize) {
    let mut e = i;
    while e < data.len() && data[e].is_ascii_digit() {
        e += 1;
    }
    (&data[i..e], e)
}

fn num(t: &[u8]) -> Option<u64> {
    let t = std::str::from_utf8(t).ok()?;
    let t = t.trim_start_matches('0');
    if t.is_empty() {
        return Some(0);
    }
    t.parse::<u64>().ok()
}

fn reference(data: &[u8]) -> Option<SchedstatFields> {
    for start in 0..data.len() {
        let mut nums = Vec::new();
        let mut i = start;
        for k in 0..3 {
            if k > 0 {
                if data.get(i) != Some(&b' ') {
                    break;
                }
                i += 1;
            }
            let (d, e) = run(data, i);
            if d.is_empty() {
                break;
            }
            nums.push(d);
            i = e;
        }
        if nums.len() == 3 {
            return Some(SchedstatFields {
                run_ns: num(nums[0])?,
                wait_ns: num(nums[1])?,
                timeslices: num(nums[2])?,
            });
        }
    }
    None
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
