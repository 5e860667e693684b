//! Giving back the free system pages inside a page that still has blocks out: [`Page::punch_holes`]
//! and [`Page::fill_holes`].
//!
//! A page of a size class stays committed as long as one of its blocks is out. Where the
//! survivors of a phase are scattered (a cache that shrank, the requests of a busy moment that
//! left a few long-lived blocks behind), most of a page's system pages may hold no live byte.
//! The thread's purge look punches them out of idle pages (`small::retire::punch_idle`): the
//! free blocks that overlap such a system page are taken off the page's free list, the system
//! page is decommitted, and its bit is set in [`Page::holes`]. The blocks stay free, owned by
//! the page and counted in no `used`; they are simply not on the list. When the page next has
//! no free block on its list, before carving new ones, the refill puts every block of the holes
//! back on the list ([`Page::fill_holes`]), and the writes of their links fault the memory in
//! again.
//!
//! Invariant: a block that overlaps a hole is free and on no list (neither the owner's free
//! list nor the remote one), and it lies below `extended` (a hole is punched only in system
//! pages wholly inside the carved blocks, so carving more never reaches one).

use core::ptr;

use super::{Block, Page};
use crate::platform::memory::OS_PAGE;

/// `flags` (small): the thread's purge look punched the page's free system pages out since it
/// was last made current, so it does not look again until then. The bit is `WARM`'s, which only
/// big pages carry.
pub const PUNCHED: u8 = 4;

/// The most system pages a page may span for [`Page::holes`]'s bitmap: a wide page of 512 KiB.
pub const HOLE_PAGES_MAX: usize = 128;

impl Page {
    /// The system pages of the span that are holes (bit `k`: the `k`-th system page from
    /// `start`).
    #[inline]
    pub fn hole_bits(&self) -> u128 {
        self.holes[0] as u128 | (self.holes[1] as u128) << 64
    }

    fn set_hole_bits(&mut self, bits: u128) {
        self.holes = [bits as u64, (bits >> 64) as u64];
    }

    /// Whether the page can give a block without taking remote frees: one on its free list,
    /// one in its holes, or one not carved yet.
    #[inline]
    pub fn has_room(&self) -> bool {
        !self.free.is_null() || self.can_extend() || self.has_holes()
    }

    /// Whether some blocks of the page are in holes (free, but not on the free list).
    #[inline]
    pub fn has_holes(&self) -> bool {
        self.holes != [0, 0]
    }

    /// The blocks `first ..= last` that overlap system page `k` of the span, among the first
    /// `carved` blocks (`None` when none does).
    fn blocks_of_os_page(&self, k: usize, carved: usize) -> Option<(usize, usize)> {
        let size = self.block_size as usize;
        let first = k * OS_PAGE / size;
        let last = (((k + 1) * OS_PAGE - 1) / size).min(carved.checked_sub(1)?);
        (first <= last).then_some((first, last))
    }

    /// Whether block `i` overlaps one of the system pages `holes` (bits as in
    /// [`hole_bits`](Self::hole_bits)).
    fn block_overlaps(&self, i: usize, holes: u128) -> bool {
        let size = self.block_size as usize;
        let (first, last) = (i * size / OS_PAGE, ((i + 1) * size - 1) / OS_PAGE);
        (first..=last.min(HOLE_PAGES_MAX - 1)).any(|k| holes & (1 << k) != 0)
    }

    /// Takes off the free list the free blocks that lie in system pages holding no block that
    /// is out, and marks those system pages as holes. Returns the new holes (bits as in
    /// [`hole_bits`](Self::hole_bits)) for the caller to decommit; 0, with the page unchanged,
    /// when fewer than `min_pages` system pages are wholly free. The free list is rebuilt in
    /// address order, as `trim_tail` does. Owner thread only, on a page that is not current;
    /// blocks that other threads freed and the owner has not collected count as out.
    ///
    /// Only system pages wholly inside the carved blocks are punched (see the module's
    /// invariant).
    ///
    /// # Time Complexity
    /// One walk of the free list, and passes over the carved blocks.
    pub fn punch_holes(&mut self, min_pages: u32) -> u128 {
        let ext = self.extended as usize;
        let size = self.block_size as usize;
        let start = self.start as usize;
        let span_pages = (ext * size) / OS_PAGE; // system pages wholly inside the carved blocks
        if self.free.is_null()
            || !start.is_multiple_of(OS_PAGE)
            || span_pages == 0
            || (self.capacity as usize * size).div_ceil(OS_PAGE) > HOLE_PAGES_MAX
        {
            return 0;
        }
        // The blocks on the free list.
        let Some(listed) = self.free_bitmap() else {
            return 0;
        };
        let old = self.hole_bits();
        let free = |i: usize| listed[i / 64] & (1 << (i % 64)) != 0 || self.block_overlaps(i, old);
        let mut new: u128 = 0;
        for k in 0..span_pages {
            if old & (1 << k) != 0 {
                continue;
            }
            let Some((first, last)) = self.blocks_of_os_page(k, ext) else {
                continue;
            };
            if (first..=last).all(free) {
                new |= 1 << k;
            }
        }
        if new.count_ones() < min_pages.max(1) {
            return 0;
        }
        let holes = old | new;
        // Rebuild the list from the listed blocks outside every hole, lowest first.
        let mut head: *mut Block = ptr::null_mut();
        for i in (0..ext).rev() {
            if listed[i / 64] & (1 << (i % 64)) != 0 && !self.block_overlaps(i, holes) {
                // SAFETY: block `i` is a free carved block of this page, outside every hole
                // (its memory stays committed).
                unsafe {
                    let block = self.start.add(i * size) as *mut Block;
                    (*block).next = head;
                    head = block;
                }
            }
        }
        self.free = head;
        self.set_hole_bits(holes);
        new
    }

    /// Puts every block that overlaps a hole back on the free list and clears the holes.
    /// Returns the blocks put back and the system pages that were holes (their memory is
    /// faulted in again as the links are written). Owner thread only.
    pub fn fill_holes(&mut self) -> (u32, u32) {
        let holes = self.hole_bits();
        if holes == 0 {
            return (0, 0);
        }
        let size = self.block_size as usize;
        let mut added = 0;
        for i in (0..self.extended as usize).rev() {
            if self.block_overlaps(i, holes) {
                // SAFETY: block `i` overlaps a hole, so it is a free carved block of this page
                // on no list (the module's invariant); its memory is ours to write.
                unsafe {
                    let block = self.start.add(i * size) as *mut Block;
                    (*block).next = self.free;
                    self.free = block;
                }
                added += 1;
            }
        }
        self.holes = [0, 0];
        (added, holes.count_ones())
    }

    /// Whether the block at `b` (a block start of this page) overlaps a hole.
    #[cfg(any(test, feature = "validate"))]
    pub fn block_in_hole(&self, b: *const u8) -> bool {
        let i = (b as usize).wrapping_sub(self.start as usize) / self.block_size as usize;
        self.block_overlaps(i, self.hole_bits())
    }

    /// The blocks that overlap a hole (free, on no list).
    #[cfg(any(test, feature = "validate"))]
    pub fn hole_blocks(&self) -> u32 {
        let holes = self.hole_bits();
        (0..self.extended as usize)
            .filter(|&i| self.block_overlaps(i, holes))
            .count() as u32
    }

    /// Forgets the holes of a page that emptied or is set up afresh (every block of it is free
    /// and the lists are reset by the caller). Returns how many system pages were holes.
    pub fn drop_holes(&mut self) -> u32 {
        let n = self.hole_bits().count_ones();
        self.holes = [0, 0];
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::PageKind;
    use crate::size_class::{class_of, class_size};
    use std::vec;
    use std::vec::Vec;

    /// A page of `class` over `bytes` of a Vec's memory (aligned to the system page), with every
    /// block carved and on the free list; returns the page and the memory.
    fn page_of(class: usize, bytes: usize) -> (Page, Vec<u8>) {
        let mut mem = vec![0u8; bytes + OS_PAGE];
        let start = mem
            .as_mut_ptr()
            .wrapping_add(mem.as_ptr().align_offset(OS_PAGE));
        let mut p = Page::zeroed();
        p.init(PageKind::Small, class, start, bytes, 1);
        // `extend` carves onto an empty list only: move each run it carves to `kept`.
        let mut kept: *mut Block = ptr::null_mut();
        while p.extend() {
            // SAFETY: the blocks of the run just carved, on the page's free list.
            unsafe {
                let mut tail = p.free;
                while !(*tail).next.is_null() {
                    tail = (*tail).next;
                }
                (*tail).next = kept;
            }
            kept = p.free;
            p.free = ptr::null_mut();
        }
        p.free = kept;
        (p, mem)
    }

    fn list(p: &Page) -> Vec<usize> {
        let mut v = Vec::new();
        let mut b = p.free;
        while !b.is_null() {
            v.push((b as usize - p.start as usize) / p.block_size as usize);
            // SAFETY: a block of the page on its free list.
            b = unsafe { (*b).next };
        }
        v
    }

    /// Takes block `i` off the free list (as if allocated).
    fn take(p: &mut Page, i: usize) {
        let target = p.start.wrapping_add(i * p.block_size as usize) as *mut Block;
        let mut link: *mut *mut Block = &mut p.free;
        // SAFETY: walking the page's own free list.
        unsafe {
            while !(*link).is_null() {
                if *link == target {
                    *link = (*target).next;
                    return;
                }
                link = &mut (**link).next;
            }
        }
        panic!("block {i} is not free");
    }

    #[test]
    fn holes_are_the_system_pages_without_a_block_out_and_come_back_whole() {
        // 1 KiB blocks over 64 KiB: 4 blocks per system page, 16 system pages.
        let class = class_of(1024);
        assert_eq!(class_size(class), 1024);
        let (mut p, _mem) = page_of(class, 64 << 10);
        assert_eq!(p.extended, 64);
        let all = list(&p).len();
        assert_eq!(all, 64);
        // Blocks out: one in system page 0, one in page 5, one in page 15.
        for i in [1, 21, 63] {
            take(&mut p, i);
        }
        let holes = p.punch_holes(1);
        let expected: u128 = (0..16u32)
            .filter(|k| ![0, 5, 15].contains(k))
            .map(|k| 1 << k)
            .sum();
        assert_eq!(holes, expected);
        assert_eq!(p.hole_bits(), expected);
        assert_eq!(p.hole_blocks(), 52);
        assert!(p.block_in_hole(p.start.wrapping_add(4 << 10)));
        assert!(
            !p.block_in_hole(p.start.wrapping_add(20 << 10)),
            "page 5 holds block 21"
        );
        assert!(p.has_room());
        // On the list: the three free blocks of each page with a block out, lowest first.
        assert_eq!(list(&p), [0, 2, 3, 20, 22, 23, 60, 61, 62]);
        // Nothing more to punch.
        assert_eq!(p.punch_holes(1), 0);
        assert_eq!(list(&p).len(), 9);
        // Filled: every free block is on the list again, once.
        let (added, pages) = p.fill_holes();
        assert_eq!((added, pages), (52, 13));
        let mut now = list(&p);
        now.sort_unstable();
        let mut want: Vec<usize> = (0..64).filter(|i| ![1, 21, 63].contains(i)).collect();
        want.sort_unstable();
        assert_eq!(now, want);
        assert!(!p.has_holes());
    }

    #[test]
    fn a_block_over_two_system_pages_keeps_both_until_it_is_free() {
        // 3 KiB blocks: block 1 covers bytes 3072..6144, over system pages 0 and 1.
        let class = class_of(3072);
        assert_eq!(class_size(class), 3072);
        let (mut p, _mem) = page_of(class, 64 << 10);
        let n = p.extended as usize;
        take(&mut p, 1);
        let holes = p.punch_holes(1);
        assert_eq!(holes & 0b11, 0, "pages 0 and 1 hold block 1");
        assert_ne!(holes, 0);
        // Every block over a hole is off the list: block 2 (over pages 1 and 2) too, since page
        // 2 holds only free blocks. On it: block 0 (page 0 holds block 1) and block 20, in the
        // system page that is not wholly carved (21 blocks end at 63 KiB).
        let on = list(&p);
        assert_eq!(on, [0, 20]);
        let (added, _) = p.fill_holes();
        assert_eq!(on.len() + added as usize, n - 1, "each free block once");
        let mut all = list(&p);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n - 1);
    }

    #[test]
    fn fewer_free_pages_than_asked_change_nothing() {
        let class = class_of(1024);
        let (mut p, _mem) = page_of(class, 64 << 10);
        // A block out in every system page but two.
        for k in 0..14 {
            take(&mut p, k * 4);
        }
        let before = list(&p);
        assert_eq!(p.punch_holes(3), 0);
        assert_eq!(list(&p), before);
        assert!(!p.has_holes());
        assert_eq!(p.punch_holes(2).count_ones(), 2);
    }
}
