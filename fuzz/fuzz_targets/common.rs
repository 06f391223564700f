//! Reference decoders for the differential checks: written with the standard library, in a
//! different style from the library's hand-rolled ones, from proc(5)'s definitions.
#![allow(dead_code)]

/// Whole of `t` as an unsigned decimal: digits only (no sign, no space), at most 20 of them
/// (as the library: the kernel never pads), no overflow.
pub fn ref_u64(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 20 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse::<u64>().ok()
}

/// Whole of `t` as a signed decimal: one optional `-` or `+`, then digits.
pub fn ref_i64(t: &[u8]) -> Option<i64> {
    let (neg, d) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let m = ref_u64(d)? as i128;
    i64::try_from(if neg { -m } else { m }).ok()
}

/// Whole of `t` as hexadecimal, at most 16 digits.
pub fn ref_hex(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 16 || !t.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(t).ok()?, 16).ok()
}

/// Whether `inner` lies inside `outer` (same allocation, in bounds).
pub fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

/// Offset of `inner` in `outer` (which must contain it).
pub fn offset(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}
