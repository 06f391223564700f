//! `/proc/<pid>/status`: `Key:\tvalue` lines. Unknown keys are skipped (newer kernels add
//! some); a known key with a malformed value refuses the whole file rather than reporting a
//! wrong number (procfs would silently report 0 for a malformed size).

use super::{err, i64_dec, trim, u64_dec, u64_hex, ParseError};
use crate::record::StatusFields;

/// The texts of `status` that the record keeps in its arena, as slices of the input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusTexts<'a> {
    /// `Name:` value, trimmed.
    pub name: &'a [u8],
    /// `NSpid:` value, trimmed.
    pub nspids: &'a [u8],
    /// `Cpus_allowed_list:` value, trimmed.
    pub cpus_allowed_list: &'a [u8],
}

/// Parses `buf` into `out`; the string fields of `out` are left for the caller.
pub fn parse<'a>(buf: &'a [u8], out: &mut StatusFields) -> Result<StatusTexts<'a>, ParseError> {
    let r = parse_inner(buf, out);
    if r.is_err() {
        *out = StatusFields::default();
    }
    r
}

fn kib(v: &[u8]) -> Result<u64, ParseError> {
    let n = v.strip_suffix(b" kB").unwrap_or(v);
    u64_dec(n)?.checked_mul(1024).ok_or(err("status: size overflows 64 bits"))
}

fn ids(v: &[u8], out: &mut [u64; 4]) -> Result<(), ParseError> {
    let mut n = 0;
    for t in v.split(|&c| c == b'\t') {
        let slot = out.get_mut(n).ok_or(err("status: more than 4 ids"))?;
        *slot = u64_dec(t)?;
        n += 1;
    }
    if n != 4 {
        // A missing id would read 0: root.
        return Err(err("status: fewer than 4 ids"));
    }
    Ok(())
}

fn parse_inner<'a>(buf: &'a [u8], out: &mut StatusFields) -> Result<StatusTexts<'a>, ParseError> {
    if buf.is_empty() {
        return Err(err("status: empty"));
    }
    let mut texts = StatusTexts::default();
    let mut seen_name = false;
    for line in buf.split(|&c| c == b'\n') {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let k = trim(&line[..colon]);
        let v = trim(&line[colon + 1..]);
        match k {
            b"Name" => {
                texts.name = v;
                seen_name = true;
            }
            b"Tgid" => out.tgid = i64_dec(v)?,
            b"NSpid" => texts.nspids = v,
            b"Uid" => ids(v, &mut out.uids)?,
            b"Gid" => ids(v, &mut out.gids)?,
            b"VmPeak" => out.vm_peak = kib(v)?,
            b"VmSize" => out.vm_size = kib(v)?,
            b"VmLck" => out.vm_lck = kib(v)?,
            b"VmPin" => out.vm_pin = kib(v)?,
            b"VmHWM" => out.vm_hwm = kib(v)?,
            b"VmRSS" => out.vm_rss = kib(v)?,
            b"RssAnon" => out.rss_anon = kib(v)?,
            b"RssFile" => out.rss_file = kib(v)?,
            b"RssShmem" => out.rss_shmem = kib(v)?,
            b"VmData" => out.vm_data = kib(v)?,
            b"VmStk" => out.vm_stk = kib(v)?,
            b"VmExe" => out.vm_exe = kib(v)?,
            b"VmLib" => out.vm_lib = kib(v)?,
            b"VmPTE" => out.vm_pte = kib(v)?,
            b"VmPMD" => out.vm_pmd = kib(v)?,
            b"VmSwap" => out.vm_swap = kib(v)?,
            b"HugetlbPages" => out.hugetlb_pages = kib(v)?,
            b"voluntary_ctxt_switches" => out.voluntary_ctxt_switches = u64_dec(v)?,
            b"nonvoluntary_ctxt_switches" => out.nonvoluntary_ctxt_switches = u64_dec(v)?,
            b"Cpus_allowed_list" => texts.cpus_allowed_list = v,
            b"CapInh" => out.cap_inh = u64_hex(v)?,
            b"CapPrm" => out.cap_prm = u64_hex(v)?,
            b"CapEff" => out.cap_eff = u64_hex(v)?,
            b"CapBnd" => out.cap_bnd = u64_hex(v)?,
            b"CapAmb" => out.cap_amb = u64_hex(v)?,
            _ => {}
        }
    }
    if !seen_name {
        return Err(err("status: no Name line"));
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"Name:\ta\\nb c\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nNgid:\t0\n\
Pid:\t42\nPPid:\t1\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t6\t7\t8\nNSpid:\t42\t1\n\
VmPeak:\t   10 kB\nVmSize:\t    9 kB\nVmRSS:\t 3 kB\nRssAnon:\t1 kB\nRssFile:\t2 kB\nRssShmem:\t0 kB\n\
VmSwap:\t0 kB\nHugetlbPages:\t0 kB\nFutureKey:\tsomething new\nCpus_allowed_list:\t0-1\n\
CapEff:\t000001ffffffffff\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t8\n";

    #[test]
    fn fields() {
        let mut s = StatusFields::default();
        let t = parse(SAMPLE, &mut s).unwrap();
        assert_eq!(t.name, b"a\\nb c");
        assert_eq!(t.nspids, b"42\t1");
        assert_eq!(t.cpus_allowed_list, b"0-1");
        assert_eq!(s.tgid, 42);
        assert_eq!(s.uids, [1000, 1001, 1002, 1003]);
        assert_eq!(s.gids, [5, 6, 7, 8]);
        assert_eq!((s.vm_peak, s.vm_size, s.vm_rss), (10240, 9216, 3072));
        assert_eq!((s.rss_anon, s.rss_file), (1024, 2048));
        assert_eq!(s.cap_eff, 0x1ff_ffff_ffff);
        assert_eq!((s.voluntary_ctxt_switches, s.nonvoluntary_ctxt_switches), (7, 8));
    }

    #[test]
    fn refuses_malformed_known_key() {
        let mut s = StatusFields::default();
        assert!(parse(b"Name:\tx\nVmRSS:\t12x kB\n", &mut s).is_err());
        assert!(parse(b"Name:\tx\nUid:\t1\t2\t3\t4\t5\n", &mut s).is_err());
        assert!(
            parse(b"Name:\tx\nGid:\t1\t2\n", &mut s).is_err(),
            "missing ids would read as root"
        );
        assert!(parse(b"", &mut s).is_err());
        assert!(parse(b"\x00\xff\xfe", &mut s).is_err());
        assert_eq!(s, StatusFields::default());
    }
}
