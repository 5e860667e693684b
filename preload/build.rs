//! Link options of libsacs.so (Linux only; other platforms keep the linker's defaults):
//!
//! - the SONAME `libsacs.so.<major>` (`libsacs.so.0` while the version is 0.x): a program linked
//!   with `-lsacs` then records `NEEDED libsacs.so.0` and finds the library installed by
//!   scripts/install.sh (`libsacs.so.0 -> libsacs.so.0.1.0`). LD_PRELOAD does not look at the
//!   SONAME and works as before.
//! - packed relative relocations (`-z pack-relative-relocs`, DT_RELR), where the linker and the
//!   C library both have them (binutils >= 2.38, glibc >= 2.36): the library's ~1,600 pointers
//!   to its own statics are then described in a few hundred bytes instead of 38 KiB of
//!   `.rela.dyn`, which every process that loads the library reads and keeps resident
//!   (docs/architecture.md, "The library's own footprint"). Checked by linking a probe
//!   library with the same C compiler; where it does not link cleanly the option is left out.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsacs.so.{major}");
    if links_with_packed_relocations() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C compiler that links the library (the host's `cc`; not probed when
/// cross-compiling) links a shared object with `-z pack-relative-relocs` without a word on
/// standard error: an old linker says it ignored the option; a C library without DT_RELR
/// support makes the link fail.
fn links_with_packed_relocations() -> bool {
    let host = std::env::var("HOST").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    if host != target {
        return false;
    }
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let source = out.join("relr-probe.c");
    if std::fs::write(
        &source,
        "static int x; int *p = &x; int f(void) { return *p; }\n",
    )
    .is_err()
    {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let probe = Command::new(cc)
        .args(["-shared", "-fPIC", "-Wl,-z,pack-relative-relocs", "-o"])
        .arg(out.join("librelr-probe.so"))
        .arg(&source)
        .output();
    matches!(probe, Ok(o) if o.status.success() && o.stderr.is_empty())
}
