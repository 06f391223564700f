// Gives libprocuring.so the soname libprocuring.so.0 (ABI major version), so programs linked
// against it keep working across compatible releases.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libprocuring.so.0");
}
