//! The version relation the packaging relies on: the package's major version is the ABI version
//! (the soname is `libprocuring.so.<major>`), the header's version macros are the package
//! version, and the library reports it at run time.

use std::ffi::CStr;

use procuring::ffi::*;

#[test]
fn package_major_is_the_abi_version() {
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    assert_eq!(
        major, PROCURING_ABI_VERSION,
        "Cargo.toml's version major must equal PROCURING_ABI_VERSION (src/ffi.rs): an ABI bump \
         is a new major version"
    );
    assert_eq!(PROCURING_VERSION_MAJOR, major);
    assert_eq!(
        PROCURING_VERSION_MINOR,
        env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap(),
        "PROCURING_VERSION_MINOR (src/ffi.rs) must follow Cargo.toml's version"
    );
    assert_eq!(
        PROCURING_VERSION_PATCH,
        env!("CARGO_PKG_VERSION_PATCH").parse::<u32>().unwrap(),
        "PROCURING_VERSION_PATCH (src/ffi.rs) must follow Cargo.toml's version"
    );
}

#[test]
fn version_and_source_hash_at_run_time() {
    // SAFETY: both return static NUL-terminated strings.
    let v = unsafe { CStr::from_ptr(procuring_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        v,
        format!("{PROCURING_VERSION_MAJOR}.{PROCURING_VERSION_MINOR}.{PROCURING_VERSION_PATCH}")
    );
    // SAFETY: as above.
    let h = unsafe { CStr::from_ptr(procuring_source_hash()) }.to_str().unwrap();
    assert_eq!(h.len(), 64, "{h}");
    assert!(h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{h}");
}

/// The hash build.rs embeds is the one scripts/source-hash.sh computes from the tree (the
/// script the prebuilt-archive staleness check uses).
#[test]
fn source_hash_matches_the_script() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = std::process::Command::new("bash")
        .arg(format!("{root}/scripts/source-hash.sh"))
        .output()
        .expect("run scripts/source-hash.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // SAFETY: static NUL-terminated string.
    let h = unsafe { CStr::from_ptr(procuring_source_hash()) }.to_str().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), h);
}
