//! The word of a page's remote-free list (`Page::thread_free`): its head and, when it fits, its
//! length, changed together by one compare-and-swap.
//!
//! ```text
//!  bits 63..48   bits 47..1                  bit 0
//! +-----------+---------------------------+---+
//! |   count   | head address              | 1 |   counted
//! +-----------+---------------------------+---+
//! |   head address (any value)            | 0 |   no count (0: the empty list)
//! +---------------------------------------+---+
//! ```
//!
//! A counted word holds a head below 2^48 (every user-space address on x86_64 and on 48-bit
//! AArch64) and a count of 1 to [`MAX_COUNT`]. A push of a block that does not fit, onto a list
//! that has no count, or past `MAX_COUNT` (a page has at most 8192 blocks, so only remote double
//! frees get there) stores the plain address instead: the list is then counted by walking it.
//! Block addresses are 8-aligned, so bit 0 of an address is always 0.

use super::Block;

/// The empty list.
pub const EMPTY: usize = 0;
/// Bit 0: the word carries a count.
const COUNTED: usize = 1;
const COUNT_SHIFT: u32 = 48;
const ADDR_MASK: usize = (1 << COUNT_SHIFT) - 1;
/// The largest count a word holds.
pub const MAX_COUNT: u32 = (1 << (usize::BITS - COUNT_SHIFT)) - 1;

const _: () = assert!(usize::BITS == 64);
const _: () = assert!(core::mem::align_of::<Block>() > COUNTED);

/// The first block of the list (null when empty).
#[inline(always)]
pub fn head(word: usize) -> *mut Block {
    if word & COUNTED != 0 {
        (word & ADDR_MASK & !COUNTED) as *mut Block
    } else {
        word as *mut Block
    }
}

/// The number of blocks on a non-empty list, if the word carries it.
#[inline(always)]
pub fn count(word: usize) -> Option<u32> {
    if word & COUNTED != 0 {
        Some((word >> COUNT_SHIFT) as u32)
    } else {
        None
    }
}

/// The word after pushing `block` onto the list `word`.
#[inline(always)]
pub fn push(word: usize, block: *mut Block) -> usize {
    let addr = block as usize;
    debug_assert!(addr != 0 && addr & COUNTED == 0);
    // User-space addresses on x86_64 fit in 47 bits (57 only with 5-level paging and a
    // high mmap hint, which SACS never gives); elsewhere the plain word is the fallback.
    #[cfg(target_arch = "x86_64")]
    debug_assert!(addr <= ADDR_MASK, "sacs: block address above 2^48");
    let n = if word == EMPTY {
        0
    } else {
        match count(word) {
            Some(n) => n,
            None => MAX_COUNT,
        }
    };
    if addr <= ADDR_MASK && n < MAX_COUNT {
        (((n + 1) as usize) << COUNT_SHIFT) | addr | COUNTED
    } else {
        addr
    }
}
