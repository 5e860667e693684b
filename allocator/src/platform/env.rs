//! The process environment, read from the raw `environ` array: no allocation and no
//! `std::env`, which would allocate, and may run before the Rust runtime is up when SACS is
//! preloaded.

extern "C" {
    static environ: *const *const libc::c_char;
}

/// The value of the environment variable `name` (the bytes after `name=`), if it is set.
///
/// # Safety
/// - no thread modifies the environment (`setenv`, `putenv`) during the call, and the returned
///   bytes are not used after the environment changes.
pub unsafe fn lookup(name: &[u8]) -> Option<&'static [u8]> {
    // SAFETY: reading the `environ` pointer itself is always allowed.
    let mut entry = unsafe { environ };
    if entry.is_null() {
        return None;
    }
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings that, per the
    // contract, no one modifies meanwhile.
    unsafe {
        while !(*entry).is_null() {
            let s = *entry as *const u8;
            let len = libc::strlen(*entry);
            let bytes = core::slice::from_raw_parts(s, len);
            if bytes.len() > name.len() && bytes.starts_with(name) && bytes[name.len()] == b'=' {
                return Some(&bytes[name.len() + 1..]);
            }
            entry = entry.add(1);
        }
    }
    None
}

/// Calls `f` with every entry of the environment (`NAME=value`, without the NUL).
///
/// # Safety
/// - as for [`lookup`], for the duration of the call.
pub unsafe fn for_each(mut f: impl FnMut(&[u8])) {
    // SAFETY: reading the `environ` pointer itself is always allowed.
    let mut entry = unsafe { environ };
    if entry.is_null() {
        return;
    }
    // SAFETY: as in `lookup`.
    unsafe {
        while !(*entry).is_null() {
            let len = libc::strlen(*entry);
            f(core::slice::from_raw_parts(*entry as *const u8, len));
            entry = entry.add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_raw_environment() {
        // The test runner's environment always has PATH.
        // SAFETY: no thread modifies the environment during the tests.
        let path = unsafe { lookup(b"PATH") };
        assert!(path.is_some_and(|p| !p.is_empty()));
        // SAFETY: as above.
        assert!(unsafe { lookup(b"SACS_SURELY_NOT_SET_ANYWHERE") }.is_none());
        // SAFETY: as above. A prefix of a name is not the name.
        assert!(unsafe { lookup(b"PAT") }.is_none());
    }
}
