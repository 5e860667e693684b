//! Reporting misuse: a pointer SACS never handed out, or a detected double free.
//!
//! The message is one line on standard error, built in a stack buffer (no allocation), naming
//! the function and the address: `sacs: free(): invalid pointer 0x7f…`. Then SACS aborts, as
//! glibc does, unless `SACS_ON_ERROR=continue`, in which case the block is leaked and the heap
//! left untouched.

use crate::options::{self, Opt};
use crate::platform;
use crate::stats::GLOBAL;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    InvalidPointer,
    DoubleFree,
}

/// Reports `misuse` of `ptr` in `func`, then aborts unless configured to continue.
#[cold]
#[inline(never)]
#[link_section = ".sacs_rare"]
pub fn report(func: &str, misuse: Misuse, ptr: *const u8) {
    GLOBAL.invalid_frees.add(1);
    let mut buf = [0u8; 128];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        for &b in bytes {
            if len < buf.len() {
                buf[len] = b;
                len += 1;
            }
        }
    };
    put(b"sacs: ");
    put(func.as_bytes());
    put(match misuse {
        Misuse::InvalidPointer => b"(): invalid pointer 0x",
        Misuse::DoubleFree => b"(): double free 0x",
    });
    let mut hex = [0u8; 16];
    let digits = format_hex(ptr as usize, &mut hex);
    put(digits);
    put(b"\n");
    platform::write_stderr(&buf[..len]);
    if options::get(Opt::OnError) == 0 {
        platform::abort();
    }
}

/// Formats `v` in lower-case hexadecimal, without leading zeros.
pub fn format_hex(mut v: usize, out: &mut [u8; 16]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b"0123456789abcdef"[v & 15];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    &out[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        let mut b = [0u8; 16];
        assert_eq!(format_hex(0, &mut b), b"0");
        assert_eq!(format_hex(0xdead_beef, &mut b), b"deadbeef");
        assert_eq!(format_hex(usize::MAX, &mut b), b"ffffffffffffffff");
    }
}
