//! Build script.
//!
//! - The shared library's soname is `libprocuring.so.<PROCURING_ABI_VERSION>` (read from
//!   src/ffi.rs), so programs linked against it keep working across compatible releases and
//!   refuse to start against an incompatible one.
//! - `PROCURING_SOURCE_HASH` (returned by `procuring_source_hash()`) identifies the sources the
//!   library was built from, so a test can tell a stale prebuilt archive (go/lib/) from a fresh
//!   one. It is the SHA-256 of the `sha256sum` listing of the library's sources: every file
//!   under src/, Cargo.toml, Cargo.lock, build.rs and cbindgen.toml (not tests, benches,
//!   examples or the Go package), sorted by path, one `<sha256 hex>  <path>` line each. It does
//!   not depend on the machine, the checkout path or the compiler; scripts/source-hash.sh
//!   computes the same value with coreutils:
//!   `find src -type f; echo Cargo.toml ...` | `LC_ALL=C sort` | `xargs sha256sum` | `sha256sum`.

use std::fs;
use std::path::Path;

/// The files outside src/ that the hash covers (src/ is covered whole).
const HASHED_FILES: [&str; 4] = ["Cargo.toml", "Cargo.lock", "build.rs", "cbindgen.toml"];

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = Path::new(&root);

    let ffi = fs::read_to_string(root.join("src/ffi.rs")).expect("read src/ffi.rs");
    let abi = ffi
        .lines()
        .find_map(|l| {
            let v = l.trim().strip_prefix("pub const PROCURING_ABI_VERSION: u32 = ")?;
            v.strip_suffix(';')?.trim().parse::<u32>().ok()
        })
        .expect("src/ffi.rs: no `pub const PROCURING_ABI_VERSION: u32 = <n>;` line");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libprocuring.so.{abi}");

    let mut files = Vec::new();
    collect(root, "src", &mut files);
    files.extend(HASHED_FILES.iter().map(|f| f.to_string()));
    files.sort();
    let mut listing = String::new();
    for f in &files {
        let data = fs::read(root.join(f)).unwrap_or_else(|e| panic!("read {f}: {e}"));
        listing.push_str(&format!("{}  {f}\n", hex(&sha256(&data))));
    }
    println!("cargo:rustc-env=PROCURING_SOURCE_HASH={}", hex(&sha256(listing.as_bytes())));
    // A directory makes cargo re-run the script on any change below it (new files included).
    println!("cargo:rerun-if-changed=src");
    for f in HASHED_FILES {
        println!("cargo:rerun-if-changed={f}");
    }
}

/// Every file under `root/rel`, as `/`-separated paths relative to `root`.
fn collect(root: &Path, rel: &str, out: &mut Vec<String>) {
    let dir = fs::read_dir(root.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"));
    for entry in dir {
        let entry = entry.expect("read_dir entry");
        let name = entry.file_name().into_string().expect("UTF-8 file name under src/");
        let path = format!("{rel}/{name}");
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            collect(root, &path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 (FIPS 180-4); a build dependency for one hash is not worth its download.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}
