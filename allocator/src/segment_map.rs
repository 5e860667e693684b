//! The segment map: one bit per 4 MiB of the 48-bit address space, set while a SACS segment
//! occupies that range. It answers "is this address inside one of our segments?" in O(1) for
//! `free`, `realloc` and `usable_size`, so a pointer SACS never handed out is recognised instead
//! of being trusted. The map is a zero-initialised static (8 MiB of `.bss`): the kernel backs
//! only the words that are ever written, a few pages for a typical process.
//!
//! Whales are not in the map (their mappings are looked up in the whale registry instead).

use core::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Release},
};

/// log2 of the segment size (4 MiB): the map's granularity, and `segment`'s alignment.
pub const SEGMENT_SHIFT: usize = 22;

/// Address bits covered; higher addresses are never ours.
const ADDRESS_BITS: usize = 48;
const SEGMENTS: usize = 1 << (ADDRESS_BITS - SEGMENT_SHIFT);
const WORDS: usize = SEGMENTS / 64;

struct Map([AtomicU64; WORDS]);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
static MAP: Map = Map([ZERO; WORDS]);

/// Whether a SACS segment contains `addr`.
#[inline(always)]
pub fn contains(addr: usize) -> bool {
    let index = addr >> SEGMENT_SHIFT;
    if index >= SEGMENTS {
        return false;
    }
    // Acquire pairs with the Release in `insert`: whoever sees the bit sees the initialised header.
    (MAP.0[index / 64].load(Acquire) >> (index % 64)) & 1 != 0
}

/// Records the segment starting at `base` (segment-aligned).
pub fn insert(base: usize) {
    let index = base >> SEGMENT_SHIFT;
    debug_assert!(base & ((1 << SEGMENT_SHIFT) - 1) == 0 && index < SEGMENTS);
    MAP.0[index / 64].fetch_or(1 << (index % 64), Release);
}

/// Forgets the segment starting at `base`.
pub fn remove(base: usize) {
    let index = base >> SEGMENT_SHIFT;
    debug_assert!(index < SEGMENTS);
    MAP.0[index / 64].fetch_and(!(1 << (index % 64)), Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_remove() {
        // A made-up, never-mapped segment address high in the address space.
        let base = 0x7e00_0000_0000usize;
        assert!(!contains(base));
        insert(base);
        assert!(contains(base));
        assert!(contains(base + 12345));
        assert!(contains(base + (1 << SEGMENT_SHIFT) - 1));
        assert!(!contains(base + (1 << SEGMENT_SHIFT)));
        remove(base);
        assert!(!contains(base + 1));
        assert!(!contains(usize::MAX));
        assert!(!contains(0));
    }
}
