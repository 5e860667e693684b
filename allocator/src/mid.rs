//! MidPool: requests of 1 KiB – 32 KiB, classes 40 – 79.
//!
//! The same page machinery as TinySlab with larger pages: eight slices (512 KiB), so even the
//! 32 KiB class has 16 blocks per page and a page refill is rare. The seed's 64 shards become
//! per-site shards once Site Rules land; for now each thread heap is its own shard.

/// Slices in a mid page (512 KiB).
pub const PAGE_SLICES: usize = 8;

#[cfg(test)]
mod tests {
    use crate::size_class::{class_size, SMALL_CLASSES, TINY_CLASSES};

    #[test]
    fn a_mid_page_holds_at_least_sixteen_blocks() {
        for class in TINY_CLASSES..SMALL_CLASSES {
            let blocks = super::PAGE_SLICES * crate::segment::SLICE / class_size(class);
            assert!(blocks >= 16, "class {class}: {blocks} blocks");
        }
    }
}
