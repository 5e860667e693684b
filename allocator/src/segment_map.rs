//! The segment map: one byte per 4 MiB of the user address space (47 bits on x86_64, 48
//! elsewhere), non-zero while a SACS segment occupies that range. It answers "is this address
//! inside one of our segments?" in O(1) for `free`, `realloc` and `usable_size`, so a pointer
//! SACS never handed out is recognised instead of being trusted. A byte rather than a bit, so
//! that the HOT free's test is a shift, a bound check and one byte compare (five instructions
//! where a bit needed nine). The map is a zero-initialised static (32 MiB of `.bss` on x86_64):
//! address space only; the kernel backs the pages that are written, one per 16 GiB of address
//! range that holds segments, a page or two for a typical process (reads of the others map the
//! shared zero page).
//!
//! Whales are not in the map (their mappings are looked up in the whale registry instead).

use core::sync::atomic::{
    AtomicU8,
    Ordering::{Acquire, Release},
};

/// log2 of the segment size (4 MiB): the map's granularity, and `segment`'s alignment.
pub const SEGMENT_SHIFT: usize = 22;

/// Address bits covered: the user address space the kernel hands out without an address hint
/// (x86_64 keeps below 2^47 even with five-level page tables). A segment mapped above is
/// refused (see [`covers`]) rather than trusted.
#[cfg(target_arch = "x86_64")]
const ADDRESS_BITS: usize = 47;
#[cfg(not(target_arch = "x86_64"))]
const ADDRESS_BITS: usize = 48;
/// Segments the map covers: every 4 MiB of the covered range but the topmost, where the main
/// thread's stack lives and the kernel places no mapping of ours. Not a power of two on
/// purpose: the compiler turns a bound that is one into a second shift of the address
/// (`addr >> 47 != 0`), which needs a copy of it, and a bound that is not into one compare of
/// the index already computed: one instruction fewer on the HOT free.
const SEGMENTS: usize = (1 << (ADDRESS_BITS - SEGMENT_SHIFT)) - 1;

struct Map([AtomicU8; SEGMENTS]);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU8 = AtomicU8::new(0);
static MAP: Map = Map([ZERO; SEGMENTS]);

/// Whether a SACS segment contains `addr`.
#[inline(always)]
pub fn contains(addr: usize) -> bool {
    let index = addr >> SEGMENT_SHIFT;
    if index >= SEGMENTS {
        return false;
    }
    // Acquire pairs with the Release in `insert`: whoever sees the byte sees the initialised
    // header. (On x86_64 and aarch64 an acquire load of a byte is a plain load.)
    MAP.0[index].load(Acquire) != 0
}

/// Whether the map can record a segment at `base` (it lies in the address range covered).
pub fn covers(base: usize) -> bool {
    base >> SEGMENT_SHIFT < SEGMENTS
}

/// Records the segment starting at `base` (segment-aligned, [`covers`]ed), whose header is
/// initialised: a thread that sees it in the map sees the header.
pub fn insert(base: usize) {
    let index = base >> SEGMENT_SHIFT;
    debug_assert!(base & ((1 << SEGMENT_SHIFT) - 1) == 0 && covers(base));
    MAP.0[index].store(1, Release);
}

/// Forgets the segment starting at `base` (recorded by [`insert`]).
pub fn remove(base: usize) {
    let index = base >> SEGMENT_SHIFT;
    debug_assert!(index < SEGMENTS && MAP.0[index].load(Acquire) != 0);
    MAP.0[index].store(0, Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_remove() {
        // A made-up, never-mapped segment address high in the address space.
        let base = 0x7e00_0000_0000usize;
        assert!(!contains(base));
        assert!(covers(base));
        insert(base);
        assert!(contains(base));
        assert!(contains(base + 12345));
        assert!(contains(base + (1 << SEGMENT_SHIFT) - 1));
        assert!(!contains(base + (1 << SEGMENT_SHIFT)));
        remove(base);
        assert!(!contains(base + 1));
        assert!(!contains(usize::MAX));
        assert!(!contains(0));
        // Above the covered range: refused, and never contained.
        let high = 1usize << ADDRESS_BITS;
        assert!(!covers(high));
        assert!(!contains(high));
        assert!(!contains(high - 1));
    }
}
