//! Giving back the free top of a page: [`Page::trim_tail`], which a retiring thread's page set
//! uses (`small::retire::trim`) so that a heap handed from thread to thread does not keep every
//! past thread's high-water mark of each class.

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;

use super::{Block, Page};

/// The most carved blocks [`Page::trim_tail`] looks at (its bitmap's bits, 1 KiB of stack): a
/// tiny page of the smallest class holds 8192.
pub const TRIM_MAX_BLOCKS: usize = 8192;

/// The system's page, the unit [`Page::trim_tail`] rounds to.
const OS_PAGE: usize = crate::platform::memory::OS_PAGE;

/// How much of a page's free tail [`Page::trim_tail`] un-carves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tail {
    /// Every free block above the highest block out.
    Whole,
    /// The upper half of those blocks (rounded down): repeated, the tail decays geometrically
    /// instead of going at once.
    Half,
}

impl Page {
    /// The blocks on the owner's free list as a bitmap of their indices (bit `i`: block `i`);
    /// `None` when the list is not a list of this page's carved blocks (a corrupted list: leave
    /// it alone), or the page has carved more than [`TRIM_MAX_BLOCKS`]. Owner thread only.
    pub(super) fn free_bitmap(&self) -> Option<[u64; TRIM_MAX_BLOCKS / 64]> {
        let (ext, size, start) = (
            self.extended as usize,
            self.block_size as usize,
            self.start as usize,
        );
        if ext > TRIM_MAX_BLOCKS {
            return None;
        }
        let mut free = [0u64; TRIM_MAX_BLOCKS / 64];
        let mut b = self.free;
        let mut n = 0;
        while !b.is_null() {
            let offset = (b as usize).wrapping_sub(start);
            let i = offset / size;
            n += 1;
            if !offset.is_multiple_of(size) || i >= ext || n > ext {
                return None;
            }
            free[i / 64] |= 1 << (i % 64);
            // SAFETY: `b` is a carved block of this page on the owner's free list.
            b = unsafe { (*b).next };
        }
        Some(free)
    }

    /// Un-carves the free blocks at the top of the carved ones (`extended` and `carved` drop to
    /// one past the highest block out, or with [`Tail::Half`] to halfway between that and
    /// where they were) and returns `(from, len)`, the whole OS pages that only the un-carved
    /// blocks covered, for the caller to decommit; `None`, with the page unchanged, when that
    /// is less than `min_bytes`. On `Some` the free list is rebuilt in address order, so
    /// that the blocks handed out next are the lowest and the blocks out gather at the bottom
    /// of the page for the next trim. Owner thread only; blocks that other threads freed and
    /// the owner has not collected count as out. The HOT paths are untouched: later
    /// allocations carve the un-carved blocks again (`extend`).
    ///
    /// Why it is safe while other threads hold blocks of the page: every block at or above the
    /// new `carved` is free, so a free of one from any thread is a double free, which the
    /// block-start check then rejects as an invalid pointer.
    ///
    /// # Time Complexity
    /// One walk of the free list and one pass over a bitmap of `extended` bits.
    pub fn trim_tail(&mut self, min_bytes: usize, tail: Tail) -> Option<(*mut u8, usize)> {
        let ext = self.extended as usize;
        if self.free.is_null() || ext == 0 || ext > TRIM_MAX_BLOCKS {
            return None;
        }
        let size = self.block_size as usize;
        let start = self.start as usize;
        let end = (start + ext * size).next_multiple_of(OS_PAGE);
        // A tail shorter than `min_bytes` even if every block were free: nothing to look at.
        if end - start.next_multiple_of(OS_PAGE) < min_bytes {
            return None;
        }
        let free = self.free_bitmap()?;
        // The new extent: one past the highest block that is not free.
        let mut keep = ext;
        while keep > 0 && free[(keep - 1) / 64] & (1 << ((keep - 1) % 64)) != 0 {
            keep -= 1;
        }
        if tail == Tail::Half {
            // The lower half of the free tail stays carved (and on the list, below).
            keep += (ext - keep) / 2;
        }
        let from = (start + keep * size).next_multiple_of(OS_PAGE);
        if from >= end || end - from < min_bytes {
            return None;
        }
        // Rebuild the list from the bitmap, highest first, so that it ends lowest first.
        let mut head: *mut Block = ptr::null_mut();
        for i in (0..keep).rev() {
            if free[i / 64] & (1 << (i % 64)) != 0 {
                let block = (start + i * size) as *mut Block;
                // SAFETY: block `i` is carved and free, so its first word is the list's to use.
                unsafe { (*block).next = head };
                head = block;
            }
        }
        self.free = head;
        self.extended = keep as u32;
        self.carved.store(keep as u32, Relaxed);
        Some((from as *mut u8, end - from))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::page_over;
    use super::*;
    use crate::size_class;
    use std::vec;

    /// A page of 1 KiB blocks (4 per OS page) over a 64 KiB span of `buf`, OS-page aligned.
    fn kib_page(buf: &mut vec::Vec<u8>) -> Page {
        const SPAN: usize = 65536;
        buf.resize(SPAN + OS_PAGE, 0);
        let skip = buf.as_ptr().align_offset(OS_PAGE);
        assert_eq!(size_class::class_size(39), 1024);
        page_over(&mut buf[skip..skip + SPAN], 39)
    }

    /// Pops the page's next block, carving when its list is empty.
    fn take(p: &mut Page) -> *mut Block {
        if p.free.is_null() {
            assert!(p.extend());
        }
        let b = p.free;
        // SAFETY: a carved free block of the page.
        p.free = unsafe { (*b).next };
        b
    }

    /// Pushes `b`, a block taken from the page, back onto its list.
    fn give(p: &mut Page, b: *mut Block) {
        // SAFETY: `b` was taken from the page and is given back once.
        unsafe { (*b).next = p.free };
        p.free = b;
    }

    #[test]
    fn trim_tail_uncarves_the_free_top_and_orders_the_rest() {
        let mut buf = vec::Vec::new();
        let mut p = kib_page(&mut buf);
        let blocks: vec::Vec<*mut Block> = (0..16).map(|_| take(&mut p)).collect();
        assert_eq!(p.extended, 16);
        for i in [3, 5, 1, 12, 10, 15, 11, 14, 13] {
            give(&mut p, blocks[i]);
        }
        // Blocks 10..16 are free: the new top is block 9's end, 10 KiB, and the whole OS page
        // from 12 KiB to 16 KiB held only free blocks.
        assert_eq!(
            p.trim_tail(2 * OS_PAGE, Tail::Whole),
            None,
            "a one-page tail is under the minimum"
        );
        assert_eq!(p.extended, 16);
        let start = p.start;
        // SAFETY: 12 KiB lies inside the span.
        let from = unsafe { start.add(3 * OS_PAGE) };
        assert_eq!(p.trim_tail(OS_PAGE, Tail::Whole), Some((from, OS_PAGE)));
        assert_eq!(p.extended, 10);
        assert_eq!(p.carved.load(Relaxed), 10);
        assert!(p.is_block_start(blocks[9] as *const u8));
        assert!(!p.is_block_start(blocks[10] as *const u8));
        // The free blocks below the top are left, lowest first.
        let mut order = vec::Vec::new();
        let mut b = p.free;
        while !b.is_null() {
            order.push(b);
            // SAFETY: a free block of the page.
            b = unsafe { (*b).next };
        }
        assert_eq!(order, [blocks[1], blocks[3], blocks[5]]);
        // Block 9 freed: it shares its OS page with live block 8, so no whole OS page is free
        // and nothing changes.
        give(&mut p, blocks[9]);
        assert_eq!(p.trim_tail(OS_PAGE, Tail::Whole), None);
        assert_eq!(p.extended, 10);
        // The page carves again past its new top.
        let taken: vec::Vec<*mut Block> = (0..4).map(|_| take(&mut p)).collect();
        assert_eq!(taken, [blocks[9], blocks[1], blocks[3], blocks[5]]);
        assert_eq!(take(&mut p), blocks[10]);
        assert_eq!(p.extended, 14);
    }

    #[test]
    fn half_a_tail_at_a_time_decays_it() {
        let mut buf = vec::Vec::new();
        let mut p = kib_page(&mut buf);
        let blocks: vec::Vec<*mut Block> = (0..16).map(|_| take(&mut p)).collect();
        // Blocks 4..16 free, highest first onto the list: 12 free blocks above the top block out.
        for &b in &blocks[4..] {
            give(&mut p, b);
        }
        let start = p.start as usize;
        // Half of 12 blocks: blocks 10..16 un-carved; the whole OS page 12..16 KiB is theirs
        // alone (10 and 11 share 8..12 KiB with blocks kept).
        let got = p.trim_tail(OS_PAGE, Tail::Half);
        assert_eq!(got, Some(((start + 3 * OS_PAGE) as *mut u8, OS_PAGE)));
        assert_eq!(p.extended, 10);
        // Blocks 4..10 stay free and on the list, lowest first.
        let mut b = p.free;
        for &want in &blocks[4..10] {
            assert_eq!(b, want);
            // SAFETY: a free block of the page.
            b = unsafe { (*b).next };
        }
        assert!(b.is_null());
        // Again: half of 6 free blocks, 7..10, and the OS page 8..12 KiB with them.
        let got = p.trim_tail(OS_PAGE, Tail::Half);
        assert_eq!(got, Some(((start + 2 * OS_PAGE) as *mut u8, OS_PAGE)));
        assert_eq!(p.extended, 7);
        // Half of 3 is 1 block (6), which shares its OS page with blocks kept: nothing.
        assert_eq!(p.trim_tail(OS_PAGE, Tail::Half), None);
        assert_eq!(p.extended, 7);
        // The whole tail down to block 3 gives back the OS page 4..8 KiB: blocks 4..7 alone.
        let got = p.trim_tail(OS_PAGE, Tail::Whole);
        assert_eq!(got, Some(((start + OS_PAGE) as *mut u8, OS_PAGE)));
        assert_eq!(p.extended, 4);
    }
}
