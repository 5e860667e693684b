//! The small-object tier: TinySlab (1 B – 1 KiB, classes 0 – 39) and MidPool (1 KiB – 32 KiB,
//! classes 40 – 79) share one page machinery and differ only in page size.
//!
//! A thread's small objects live in its [`Pages`]: for each *slot* a current page that the HOT
//! path pops from, partial pages (blocks came back while not current), full pages (none free at
//! the last look), a warm pool of empty pages kept committed, and the segments the pages are
//! carved from. A slot is a class and a page set: slot `class` is the class's ordinary pages,
//! slot `class + SMALL_CLASSES` ([`long_slot`]) its long-lived pages, which only Site Rules'
//! placement (`SACS_SITES=on`) allocates from, so that blocks predicted to outlive their
//! neighbours do not pin pages that short-lived blocks would otherwise empty. (The seed's 64
//! MidPool shards are these two sets per class, per thread.) Pages of blocks up to 8 KiB (every
//! tiny class and the first mid classes) are one 64 KiB slice, narrow pages; larger mid classes
//! have wide pages of eight slices (512 KiB, so even the 32 KiB class has 16 blocks per page
//! and a page refill is rare). A narrow page holds few enough blocks of a mid class (8 – 56)
//! that it empties when its class shrinks, and its span then serves any class: with 512 KiB
//! pages for every mid class, each class kept pages for the most blocks it ever had out.
//!
//! | file | what it does |
//! | --- | --- |
//! | this file | the per-thread page set, the tier geometry, the one HOT pop |
//! | [`refill`] | WARM and COLD: finding a page with a free block |
//! | [`retire`] | pages that empty: the warm pool, spans back to segments, purging them |
//! | [`abandon`] | segments of exited threads: abandoning, adopting, purging them |
//!
//! The owner of a small page or a heap segment is the address of a `Pages` (its heap's, since a
//! heap begins with its `Pages`). Everything here runs on the owning thread, with no lock,
//! except the abandoned list.

pub mod abandon;
pub mod refill;
pub mod retire;

use crate::page::{Page, PageList, EMPTY, LONG_LIVED};
use crate::purge::PurgeDelay;
use crate::segment::SegmentList;
use crate::size_class::{self, C_TINY_WORDS, SMALL_CLASSES, TINY_CLASSES};
use crate::stats::GLOBAL;

/// Slices in a narrow page (64 KiB): classes up to [`NARROW_MAX`].
pub const NARROW_PAGE_SLICES: usize = 1;
/// Slices in a wide page (512 KiB): mid classes above [`NARROW_MAX`].
pub const WIDE_PAGE_SLICES: usize = 8;

/// The largest class size on narrow pages: 8 blocks or more per page.
pub const NARROW_MAX: usize = 8192;

/// Warm-pool index of narrow pages and wide pages.
const WARM_NARROW: usize = 0;
const WARM_WIDE: usize = 1;

/// Slots of a page set: every class twice (ordinary, long-lived).
pub const SLOTS: usize = 2 * SMALL_CLASSES;

/// The long-lived slot of `class`.
#[inline(always)]
pub const fn long_slot(class: usize) -> usize {
    class + SMALL_CLASSES
}

/// The class of `slot`.
#[inline(always)]
pub const fn class_of_slot(slot: usize) -> usize {
    if slot >= SMALL_CLASSES {
        slot - SMALL_CLASSES
    } else {
        slot
    }
}

/// The slot a small page of this set belongs to: its class, in the long-lived set if flagged.
#[inline]
pub fn slot_of(page: &Page) -> usize {
    let class = page.class as usize;
    if page.flags & LONG_LIVED != 0 {
        long_slot(class)
    } else {
        class
    }
}

/// Counts `page` joining (`joined`) or leaving its class's long-lived set, for the statistics.
pub fn count_long_page(page: &Page, joined: bool) {
    let bytes = page.slices as u64 * crate::segment::SLICE as u64;
    if joined {
        GLOBAL.site_long_pages_in.add(1);
        GLOBAL.site_long_bytes_in.add(bytes);
    } else {
        GLOBAL.site_long_pages_out.add(1);
        GLOBAL.site_long_bytes_out.add(bytes);
    }
}

/// Whether `class` is a tiny class.
#[inline(always)]
pub fn is_tiny(class: usize) -> bool {
    class < TINY_CLASSES
}

/// Warm-pool index and span length (slices) of the pages of `class`.
#[inline]
fn page_shape(class: usize) -> (usize, usize) {
    if size_class::class_size(class) <= NARROW_MAX {
        (WARM_NARROW, NARROW_PAGE_SLICES)
    } else {
        (WARM_WIDE, WIDE_PAGE_SLICES)
    }
}

/// Span length (slices) of the pages of small class `class`.
#[inline]
pub fn page_slices(class: usize) -> usize {
    page_shape(class).1
}

/// A thread's small-object pages.
#[repr(C)]
pub struct Pages {
    /// The page each slot allocates from; [`EMPTY`] when there is none. HOT. Written only by
    /// [`Pages::set_current`].
    pub current: [*mut Page; SLOTS],
    /// The current page of the class of each C tiny word (`size_class::C_TINY_WORDS`), so
    /// that the C entry's HOT path goes from the size to the page with no class lookup. A copy
    /// of `current`, kept by [`Pages::set_current`]. HOT.
    pub c_tiny: [*mut Page; C_TINY_WORDS],
    /// Pages with free blocks that are not current.
    pub partial: [PageList; SLOTS],
    /// Pages with no free blocks at their last look.
    pub full: [PageList; SLOTS],
    /// Empty pages kept committed for the next refill, tiny and mid.
    pub warm: [PageList; 2],
    /// Segments whose slices these pages are carved from.
    pub segments: SegmentList,
    /// How long this thread's freed memory waits before it is purged.
    pub purge_delay: PurgeDelay,
    /// Site Rules' placement: milliseconds after which an ordinary page with survivors is
    /// re-labelled long-lived (see `refill::take_partial`); 0 when placement is off.
    pub relabel_after: u64,
    /// When (ms) the purge look last punched holes in these pages (`retire::punch_idle`; 0:
    /// never): a refill that fills holes reports a refault of that purge to `purge_delay`.
    pub punched_at: u64,
    /// When (ms) the purge look may next walk the partial pages for idle ones
    /// (`retire::punch_idle`; 0: at its first look).
    pub next_punch: u64,
    /// When (ms) a retiring thread last trimmed these pages' free tails (`retire::trim`).
    pub trimmed_at: u64,
    /// Threads that retired from these pages since they were last trimmed.
    pub retired_since_trim: u64,
    /// Pages made for a slot since every full page was last swept for other threads' frees
    /// (`refill::sweep_all_full`): the COLD path sweeps again only once this is a sixteenth of
    /// the full pages, or once a full page was found with such frees (`refill::full_sweep_due`).
    pub made_since_sweep: usize,
    /// Full pages on which a refill's look at a few of them (`refill::sweep_full`) found blocks
    /// other threads had freed, since the last sweep of every full page.
    pub full_found_remote: usize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_LIST: PageList = PageList::new();

impl Pages {
    /// No pages: every class's current page is [`EMPTY`].
    pub const fn new() -> Self {
        Self {
            current: [&EMPTY.0 as *const Page as *mut Page; SLOTS],
            c_tiny: [&EMPTY.0 as *const Page as *mut Page; C_TINY_WORDS],
            partial: [EMPTY_LIST; SLOTS],
            full: [EMPTY_LIST; SLOTS],
            warm: [EMPTY_LIST; 2],
            segments: SegmentList::new(),
            purge_delay: PurgeDelay::new(),
            relabel_after: 0,
            punched_at: 0,
            next_punch: 0,
            trimmed_at: 0,
            retired_since_trim: 0,
            made_since_sweep: 0,
            full_found_remote: 0,
        }
    }

    /// Whether Site Rules place blocks into this set's long-lived slots (`SACS_SITES=on`).
    #[inline]
    pub fn placing(&self) -> bool {
        self.relabel_after != 0
    }

    /// Makes `page` the current page of `slot` ([`EMPTY`] for none).
    #[inline]
    pub fn set_current(&mut self, slot: usize, page: *mut Page) {
        self.current[slot] = page;
        if is_tiny(slot) {
            for word in size_class::c_tiny_words_of(slot) {
                self.c_tiny[word] = page;
            }
        }
    }

    /// The owner word that this page set's pages and segments carry.
    #[inline(always)]
    pub fn id(&self) -> usize {
        self as *const Pages as usize
    }
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

/// The HOT allocation: pops a block off the current page of `slot`, or returns null when its
/// free list is empty (the caller then refills).
///
/// # Safety
/// - `pages` is the calling thread's page set or a sentinel heap's, whose current pages are all
///   [`EMPTY`] (free list null, so nothing is written); `slot < SLOTS`.
#[inline(always)]
pub unsafe fn pop(pages: *mut Pages, slot: usize) -> *mut u8 {
    // SAFETY: per the contract; a current page belongs to this thread.
    unsafe { pop_page(*(*pages).current.get_unchecked(slot)) }
}

/// Pops a block off `page`, a current page (or [`EMPTY`]), or returns null when its free list
/// is empty. The one place a small block is handed out.
///
/// # Safety
/// - `page` is a current page of the calling thread's page set, or [`EMPTY`].
#[inline(always)]
pub unsafe fn pop_page(page: *mut Page) -> *mut u8 {
    // SAFETY: per the contract; [`EMPTY`]'s list is null, so it is never written.
    unsafe {
        let block = (*page).free;
        if !block.is_null() {
            (*page).free = (*block).next;
            (*page).held += 1;
        }
        block as *mut u8
    }
}

/// Checks a thread's page set: every page's counts agree with its lists, pages are on the list
/// their flags say and owned by this set, every free block lies on a block boundary of its
/// page, the segments' bitmaps agree. Panics on the first violation.
#[cfg(feature = "validate")]
pub fn validate(pages: &Pages) {
    use crate::page::{list_len, IN_FULL};
    let me = pages.id();
    for word in 0..C_TINY_WORDS {
        assert_eq!(
            pages.c_tiny[word],
            pages.current[size_class::c_tiny_class_of_word(word)],
            "the C tiny table disagrees with the current pages"
        );
    }
    let check = |slot: usize, page: *mut Page, pinned: bool| {
        // SAFETY: pages reached from the set are valid and only this thread writes them.
        unsafe {
            let p = &*page;
            assert_eq!(slot_of(p), slot, "page on the wrong slot's list");
            assert_eq!(
                p.owner.load(core::sync::atomic::Ordering::Relaxed),
                me,
                "page not owned by its heap"
            );
            let free = list_len(p.free, p.capacity);
            let mut b = p.free;
            while !b.is_null() {
                assert!(
                    p.is_block_start(b as *const u8),
                    "free block off a block boundary"
                );
                assert!(!p.block_in_hole(b as *const u8), "free block in a hole");
                b = (*b).next;
            }
            let out = p.used() - pinned as u32;
            let holed = p.hole_blocks();
            assert!(
                free + out + holed <= p.extended,
                "more blocks than carved: free {free} out {out} in holes {holed}"
            );
        }
    };
    for slot in 0..SLOTS {
        if pages.current[slot] != EMPTY.ptr() {
            check(slot, pages.current[slot], true);
        }
        for (list, full) in [(&pages.partial[slot], false), (&pages.full[slot], true)] {
            let mut page = list.head;
            let mut n = 0;
            while !page.is_null() {
                // SAFETY: as above.
                unsafe {
                    assert_eq!(
                        (*page).flags & IN_FULL != 0,
                        full,
                        "IN_FULL flag disagrees with the list"
                    );
                    check(slot, page, false);
                    page = (*page).next;
                }
                n += 1;
            }
            assert_eq!(n, list.len);
        }
    }
    let mut seg = pages.segments.head;
    while !seg.is_null() {
        // SAFETY: the set's segments are valid; their bitmaps are read with their slice state
        // held (the shared look for idle heaps may take free slices meanwhile).
        unsafe {
            let s = &*seg;
            assert_eq!(s.owner.load(core::sync::atomic::Ordering::Relaxed), me);
            let (free, dirty) = s.slice_bits();
            assert_eq!(free & 1, 0, "header slice marked free");
            assert_eq!(dirty & !free, 0, "dirty slice in use");
            seg = s.next;
        }
    }
}

/// Undoes a [`pop`] of `block` (the block was not used). The page is found from the block:
/// a refill may have served it from a larger class's page ([`refill::refill_current`]).
///
/// # Safety
/// - `block` was just popped from a current page of the calling thread's page set and nothing
///   was written to it.
#[inline]
pub unsafe fn unpop(block: *mut u8) {
    // SAFETY: per the contract the block lies in a live segment of ours, and its link still
    // points to the next free block of its page.
    unsafe {
        let page = crate::segment::Segment::page_of(block);
        debug_assert!((*(block as *mut crate::page::Block)).next == (*page).free);
        (*page).free = block as *mut crate::page::Block;
        (*page).held -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SLICE;
    use crate::size_class::{class_of, class_size, TINY_MAX};

    #[test]
    fn a_tiny_page_holds_many_blocks_of_every_tiny_class() {
        for class in 0..TINY_CLASSES {
            let blocks = page_slices(class) * SLICE / class_size(class);
            assert!(blocks >= 64, "class {class}: {blocks} blocks");
        }
        assert!(is_tiny(class_of(TINY_MAX)));
        assert!(!is_tiny(class_of(TINY_MAX + 1)));
    }

    #[test]
    fn a_mid_page_holds_eight_blocks_or_more_and_wide_pages_sixteen() {
        for class in TINY_CLASSES..SMALL_CLASSES {
            let slices = page_slices(class);
            let blocks = slices * SLICE / class_size(class);
            let least = if slices == NARROW_PAGE_SLICES { 8 } else { 16 };
            assert!(blocks >= least, "class {class}: {blocks} blocks");
            assert_eq!(
                slices == NARROW_PAGE_SLICES,
                class_size(class) <= NARROW_MAX
            );
        }
        // The first mid classes are narrow, the last wide.
        assert_eq!(page_slices(TINY_CLASSES), NARROW_PAGE_SLICES);
        assert_eq!(page_slices(SMALL_CLASSES - 1), WIDE_PAGE_SLICES);
    }

    #[test]
    fn an_empty_page_set_pops_nothing() {
        let mut pages = Pages::new();
        for slot in [0, 39, 40, 79, long_slot(0), long_slot(79)] {
            // SAFETY: every current page is EMPTY.
            assert!(unsafe { pop(&mut pages, slot) }.is_null());
        }
    }
}
