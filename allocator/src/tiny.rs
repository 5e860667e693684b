//! TinySlab: requests of 1 B – 1 KiB, classes 0 – 39.
//!
//! Served from one-slice (64 KiB) pages owned by the calling thread's heap; see [`crate::page`]
//! for the free lists and [`crate::heap`] for how pages are found. This module holds the tier's
//! geometry, which the heap and the statistics read.

use crate::size_class::TINY_CLASSES;

/// Slices in a tiny page (64 KiB).
pub const PAGE_SLICES: usize = 1;

/// Whether `class` is a tiny class.
#[inline(always)]
pub fn is_tiny(class: usize) -> bool {
    class < TINY_CLASSES
}

#[cfg(test)]
mod tests {
    use crate::size_class::{class_of, class_size, TINY_MAX};

    #[test]
    fn a_tiny_page_holds_many_blocks_of_every_tiny_class() {
        for class in 0..super::TINY_CLASSES {
            let blocks = super::PAGE_SLICES * crate::segment::SLICE / class_size(class);
            assert!(blocks >= 64, "class {class}: {blocks} blocks");
        }
        assert!(super::is_tiny(class_of(TINY_MAX)));
        assert!(!super::is_tiny(class_of(TINY_MAX + 1)));
    }
}
