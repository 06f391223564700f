//! `parse::status::parse`: never panics; on error all zero; on success equal to a reference
//! decoding (`Key: value` lines, keys and values trimmed, unknown keys skipped, a known key with
//! a malformed value refuses the file, a `Name` line required, later lines win), the texts are
//! slices of the input.
#![no_main]

mod common;
use common::*;
use libfuzzer_sys::fuzz_target;
use procuring::{parse, StatusFields, StrRef};

#[derive(Debug, Default, PartialEq)]
struct Texts<'a> {
    name: &'a [u8],
    nspids: &'a [u8],
    cpus: &'a [u8],
}

fn kib(v: &[u8]) -> Option<u64> {
    ref_u64(v.strip_suffix(b" kB").unwrap_or(v))?.checked_mul(1024)
}

/// Ids as the parser keeps them: exactly 4, tab-separated (a missing id would read as root).
fn ids(v: &[u8], out: &mut [u64; 4]) -> Option<()> {
    let items: Vec<&[u8]> = v.split(|&c| c == b'\t').collect();
    if items.len() != 4 {
        return None;
    }
    for (slot, it) in out.iter_mut().zip(items) {
        *slot = ref_u64(it)?;
    }
    Some(())
}

fn reference(data: &[u8]) -> Option<(StatusFields, Texts<'_>)> {
    if data.is_empty() {
        return None;
    }
    let mut s = StatusFields::default();
    let mut t = Texts::default();
    let mut named = false;
    for line in data.split(|&c| c == b'\n') {
        let Some(colon) = line.iter().position(|&c| c == b':') else { continue };
        let (k, v) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        let size = |slot: &mut u64| -> Option<()> {
            *slot = kib(v)?;
            Some(())
        };
        match k {
            b"Name" => {
                t.name = v;
                named = true;
            }
            b"Tgid" => s.tgid = ref_i64(v)?,
            b"NSpid" => t.nspids = v,
            b"Cpus_allowed_list" => t.cpus = v,
            b"Uid" => ids(v, &mut s.uids)?,
            b"Gid" => ids(v, &mut s.gids)?,
            b"VmPeak" => size(&mut s.vm_peak)?,
            b"VmSize" => size(&mut s.vm_size)?,
            b"VmLck" => size(&mut s.vm_lck)?,
            b"VmPin" => size(&mut s.vm_pin)?,
            b"VmHWM" => size(&mut s.vm_hwm)?,
            b"VmRSS" => size(&mut s.vm_rss)?,
            b"RssAnon" => size(&mut s.rss_anon)?,
            b"RssFile" => size(&mut s.rss_file)?,
            b"RssShmem" => size(&mut s.rss_shmem)?,
            b"VmData" => size(&mut s.vm_data)?,
            b"VmStk" => size(&mut s.vm_stk)?,
            b"VmExe" => size(&mut s.vm_exe)?,
            b"VmLib" => size(&mut s.vm_lib)?,
            b"VmPTE" => size(&mut s.vm_pte)?,
            b"VmPMD" => size(&mut s.vm_pmd)?,
            b"VmSwap" => size(&mut s.vm_swap)?,
            b"HugetlbPages" => size(&mut s.hugetlb_pages)?,
            b"voluntary_ctxt_switches" => s.voluntary_ctxt_switches = ref_u64(v)?,
            b"nonvoluntary_ctxt_switches" => s.nonvoluntary_ctxt_switches = ref_u64(v)?,
            b"CapInh" => s.cap_inh = ref_hex(v)?,
            b"CapPrm" => s.cap_prm = ref_hex(v)?,
            b"CapEff" => s.cap_eff = ref_hex(v)?,
            b"CapBnd" => s.cap_bnd = ref_hex(v)?,
            b"CapAmb" => s.cap_amb = ref_hex(v)?,
            _ => {}
        }
    }
    named.then_some((s, t))
}

fuzz_target!(|data: &[u8]| {
    let junk = StrRef { off: 3, len: 4 };
    let mut dirty = StatusFields {
        name: junk,
        nspids: junk,
        tgid: 9,
        vm_rss: 1,
        uids: [7; 4],
        cap_amb: 3,
        ..Default::default()
    };
    let mut clean = StatusFields::default();
    let rd = parse::status::parse(data, &mut dirty);
    let rc = parse::status::parse(data, &mut clean);
    let want = reference(data);
    match (rd, rc) {
        (Err(_), Err(_)) => {
            assert_eq!(dirty, StatusFields::default(), "refused status left fields behind");
            assert_eq!(clean, StatusFields::default());
            assert!(want.is_none(), "refused a status the reference decodes");
        }
        (Ok(td), Ok(tc)) => {
            assert_eq!(td, tc);
            let (fields, texts) = want.expect("accepted a status the reference refuses");
            for t in [tc.name, tc.nspids, tc.cpus_allowed_list] {
                assert!(within(data, t), "text outside the input");
                assert_eq!(t, t.trim_ascii(), "text not trimmed");
            }
            assert_eq!(
                Texts { name: tc.name, nspids: tc.nspids, cpus: tc.cpus_allowed_list },
                texts
            );
            assert_eq!(clean, fields, "fields differ from the reference");
            // Keys absent from the input keep what `out` held (the scanner always passes a
            // zeroed struct), so the dirty run is only checked for the reset on error.
        }
        _ => panic!("same input, different outcome"),
    }
});
