//! Gives libsacs.so the SONAME `libsacs.so.<major>` (`libsacs.so.0` while the version is 0.x):
//! a program linked with `-lsacs` then records `NEEDED libsacs.so.0` and finds the library
//! installed by scripts/install.sh (`libsacs.so.0 -> libsacs.so.0.1.0`). LD_PRELOAD does not
//! look at the SONAME and works as before. Linux only: other platforms keep the linker's default.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsacs.so.{major}");
    }
}
