//! `parse::nul_split` (cmdline, environ): never panics; the items are the input's own bytes, in
//! order, contain no NUL, and joined with NULs (plus the final NUL the input ended with) give
//! back the input exactly.
#![no_main]

mod common;
use common::*;
use libfuzzer_sys::fuzz_target;
use procuring::parse;

fuzz_target!(|data: &[u8]| {
    let items: Vec<&[u8]> = parse::nul_split(data).collect();
    let mut joined = Vec::with_capacity(data.len());
    let mut at = 0;
    for (n, it) in items.iter().enumerate() {
        assert!(within(data, it) && !it.contains(&0));
        if !it.is_empty() {
            assert_eq!(offset(data, it), at, "item {n} is not where it should be");
        }
        if n > 0 {
            joined.push(0);
        }
        joined.extend_from_slice(it);
        at += it.len() + 1;
    }
    if data.last() == Some(&0) {
        joined.push(0);
    }
    assert_eq!(joined, data);
    assert_eq!(items.is_empty(), data.is_empty());
});
