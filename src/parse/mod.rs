//! Zero-copy, allocation-free parsers of `/proc/<pid>/*` text. Each takes the file's bytes and
//! fills a C-layout field struct; on error the struct is reset to zero, never half-filled.

pub mod cgroup;
pub mod io;
pub mod schedstat;
pub mod stat;
pub mod status;

/// Why a file's content was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// What was wrong, for messages.
    pub what: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}

impl std::error::Error for ParseError {}

pub(crate) const fn err(what: &'static str) -> ParseError {
    ParseError { what }
}

/// Decimal `u64` of the whole of `s` (no sign, no spaces), refusing overflow.
pub(crate) fn u64_dec(s: &[u8]) -> Result<u64, ParseError> {
    if s.is_empty() || s.len() > 20 {
        return Err(err("bad unsigned number"));
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return Err(err("bad unsigned number"));
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(d as u64))
            .ok_or(err("number overflows 64 bits"))?;
    }
    Ok(v)
}

/// Decimal `i64` of the whole of `s`, with an optional leading `-` (or `+`, as Go's scanner).
pub(crate) fn i64_dec(s: &[u8]) -> Result<i64, ParseError> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let m = u64_dec(digits)?;
    if neg {
        if m > i64::MAX as u64 + 1 {
            return Err(err("number overflows 64 bits"));
        }
        Ok((m as i64).wrapping_neg())
    } else {
        i64::try_from(m).map_err(|_| err("number overflows 64 bits"))
    }
}

/// Hexadecimal `u64` of the whole of `s`.
pub(crate) fn u64_hex(s: &[u8]) -> Result<u64, ParseError> {
    if s.is_empty() || s.len() > 16 {
        return Err(err("bad hexadecimal number"));
    }
    let mut v: u64 = 0;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(err("bad hexadecimal number")),
        };
        v = (v << 4) | d as u64;
    }
    Ok(v)
}

/// `s` without leading and trailing ASCII whitespace.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &s[start..end]
}

/// The NUL-separated items of `cmdline`/`environ`: a trailing NUL ends the last item rather than
/// starting an empty one (as `prometheus/procfs`).
pub fn nul_split(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = s.strip_suffix(b"\0").unwrap_or(s);
    let empty = s.is_empty();
    body.split(|&c| c == 0).filter(move |_| !empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(u64_dec(b"0"), Ok(0));
        assert_eq!(u64_dec(b"18446744073709551615"), Ok(u64::MAX));
        assert!(u64_dec(b"18446744073709551616").is_err());
        assert!(u64_dec(b"").is_err());
        assert!(u64_dec(b"1a").is_err());
        assert!(u64_dec(b"-1").is_err());
        assert_eq!(i64_dec(b"-1"), Ok(-1));
        assert_eq!(i64_dec(b"-9223372036854775808"), Ok(i64::MIN));
        assert!(i64_dec(b"9223372036854775808").is_err());
        assert!(i64_dec(b"-").is_err());
        assert_eq!(u64_hex(b"000001ffffffffff"), Ok(0x1ff_ffff_ffff));
        assert!(u64_hex(b"00000000000000000").is_err());
    }

    #[test]
    fn split() {
        let v: Vec<&[u8]> = nul_split(b"a\0b c\0\0d\0").collect();
        assert_eq!(v, vec![&b"a"[..], b"b c", b"", b"d"]);
        assert_eq!(nul_split(b"").count(), 0);
        assert_eq!(nul_split(b"x").collect::<Vec<_>>(), vec![&b"x"[..]]);
        assert_eq!(trim(b" \t a b\n"), b"a b");
        assert_eq!(trim(b"  "), b"");
    }
}
