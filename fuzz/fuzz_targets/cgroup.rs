//! `parse::cgroup::lines` / `validate`: never panic; `validate` is Ok exactly when every line
//! parses; a parsed line is `id:controllers:path` of the input (slices of it) with `id` a
//! decimal; one item per line.
#![no_main]

mod common;
use common::*;
use libfuzzer_sys::fuzz_target;
use procuring::parse;

fuzz_target!(|data: &[u8]| {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let raw: Vec<&[u8]> =
        if data.is_empty() { Vec::new() } else { body.split(|&c| c == b'\n').collect() };
    let parsed: Vec<_> = parse::cgroup::lines(data).collect();
    assert_eq!(parsed.len(), raw.len(), "one item per line");
    for (line, p) in raw.iter().zip(&parsed) {
        let colons: Vec<usize> =
            line.iter().enumerate().filter(|(_, &c)| c == b':').map(|(i, _)| i).collect();
        match p {
            Ok(l) => {
                assert!(colons.len() >= 2);
                let (a, b) = (colons[0], colons[1]);
                assert_eq!(Some(l.hierarchy_id), ref_i64(&line[..a]));
                assert!(within(data, l.controllers) && within(data, l.path));
                assert_eq!(l.controllers, &line[a + 1..b]);
                assert_eq!(l.path, &line[b + 1..]);
                let n = l.controller_list().count();
                assert_eq!(
                    n,
                    if l.controllers.is_empty() {
                        0
                    } else {
                        l.controllers.iter().filter(|&&c| c == b',').count() + 1
                    }
                );
            }
            Err(_) => assert!(
                colons.len() < 2 || ref_i64(&line[..colons[0]]).is_none(),
                "refused a valid line"
            ),
        }
    }
    assert_eq!(parse::cgroup::validate(data).is_ok(), parsed.iter().all(Result::is_ok));
});
