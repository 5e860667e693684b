//! Code addresses to names, through `dladdr`: which loaded module holds an address, at what
//! offset from the module's load address, and the exported symbol that contains it. The heap
//! profile (`site::profile`) names its call sites with it.
//!
//! `dladdr` does not allocate: glibc's `_dl_addr` takes the dynamic loader's own lock and walks
//! the tables of the loaded objects. The strings it gives back point into the loader's data
//! (the module's path) and the module's string table (the symbol's name), so they stay valid only
//! while the module stays loaded: [`with_symbol`] lends them to a closure rather than returning
//! them. Only exported (dynamic) symbols are seen, and glibc names one only when the address
//! lies within its extent (`st_value .. st_value + st_size`): a static function, or any
//! function of a program that exports none, gets no name, and module + offset is what
//! `addr2line -f -e <module> <offset>` resolves.

use core::ffi::{c_void, CStr};

use super::KeepErrno;

/// What `dladdr` knows of a code address.
pub struct Symbol<'a> {
    /// The path of the module, as the loader knows it (glibc gives the main program's as it was
    /// run, or empty).
    pub module: &'a [u8],
    /// The address minus the module's load address: the address in `objdump -d` or
    /// `addr2line -e module` terms for a position-independent module.
    pub module_offset: usize,
    /// The exported symbol whose extent holds the address, with the address's offset from its
    /// start; `None` when there is none.
    pub name: Option<(&'a [u8], usize)>,
}

/// Calls `f` with what `dladdr` knows of `addr`: `None` when no loaded module holds it.
///
/// # Safety
/// - no thread unloads (`dlclose`) the module that holds `addr` until the call returns: the
///   strings lent to `f` point into it.
pub unsafe fn with_symbol<R>(addr: usize, f: impl FnOnce(Option<&Symbol<'_>>) -> R) -> R {
    let _errno = KeepErrno::new();
    let mut info = libc::Dl_info {
        dli_fname: core::ptr::null(),
        dli_fbase: core::ptr::null_mut(),
        dli_sname: core::ptr::null(),
        dli_saddr: core::ptr::null_mut(),
    };
    // SAFETY: `dladdr` only compares `addr` with the loaded modules' address ranges (it never
    // reads memory there) and writes `info`, a valid out-parameter.
    let found = unsafe { libc::dladdr(addr as *const c_void, &mut info) } != 0;
    if !found || info.dli_fname.is_null() {
        return f(None);
    }
    // SAFETY: `dli_fname` is a NUL-terminated string of the loader's, valid while the module is
    // loaded (the caller's contract).
    let module = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
    // `dli_sname` is null when no symbol precedes the address; `dli_saddr` is then meaningless.
    let name = (!info.dli_sname.is_null()).then(|| {
        // SAFETY: a NUL-terminated string in the module's string table, valid while the module
        // is loaded (the caller's contract).
        let name = unsafe { CStr::from_ptr(info.dli_sname) }.to_bytes();
        (name, addr.wrapping_sub(info.dli_saddr as usize))
    });
    f(Some(&Symbol {
        module,
        module_offset: addr.wrapping_sub(info.dli_fbase as usize),
        name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_libc_function_and_nothing_for_an_unmapped_address() {
        let qsort = libc::qsort as *const () as usize;
        // SAFETY: the C library is never unloaded.
        let (module, name, offset) = unsafe {
            with_symbol(qsort + 1, |s| {
                let s = s.expect("qsort is in a loaded module");
                let (name, offset) = s.name.expect("qsort is exported");
                assert!(s.module_offset > 0);
                (
                    std::string::String::from_utf8_lossy(s.module).into_owned(),
                    std::string::String::from_utf8_lossy(name).into_owned(),
                    offset,
                )
            })
        };
        assert!(module.contains("libc"), "module {module}");
        assert_eq!(name, "qsort");
        assert_eq!(offset, 1);
        // SAFETY: nothing to unload.
        assert!(unsafe { with_symbol(0x1000, |s| s.is_none()) });
    }
}
