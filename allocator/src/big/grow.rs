//! A big block that `realloc` grows keeps its place when it can: the block's class changes, and
//! its span takes the free slices after it if it needs more.
//!
//! A program that builds a string or an array by appending (CPython's list and string writers,
//! `std::vec::Vec`'s doubling, a log buffer) reallocates one block through many big classes.
//! Moved each time, every step copies the block and frees the old one into a cache where no
//! request of its class follows: a chain growing by an eighth a step leaves about eight times
//! its final size freed behind it, resident until it is uncached or decommitted. Grown in place,
//! a step costs one arena lock and a few bit operations, and nothing is left behind.

use super::{slices_for, ARENA_LOCKS};
use crate::page::{Page, PageKind, LOCAL};
use crate::segment::Segment;
use crate::size_class::{class_size, BIG_FIRST, CLASSES};
use crate::stats::{Tier, GLOBAL};

/// Grows the live big block at `p` to big class `class` without moving it, if the slices after
/// its span are free (or it has enough already). Returns whether it did; if not, nothing
/// changed.
///
/// # Safety
/// - `p` is the start of a big block, and `page` its page entry; the block is live and the
///   caller's, or freed into a thread's cache (then nothing changes).
pub unsafe fn grow_in_place(page: *mut Page, p: *mut u8, class: usize) -> bool {
    debug_assert!((BIG_FIRST..CLASSES).contains(&class));
    let seg = Segment::of(p);
    // SAFETY: `p` lies in a live arena segment.
    let arena = unsafe { (*seg).arena as usize };
    let _a = ARENA_LOCKS[arena].lock();
    // SAFETY: the caller owns the block; its span's slices and entry change only under the
    // arena lock, which we hold.
    unsafe {
        let pg = &mut *page;
        debug_assert!(pg.kind == PageKind::Big as u8);
        if pg.used() != 1 || pg.flags & LOCAL != 0 {
            // Freed already, into a thread's cache: the caller's free of it reports that.
            return false;
        }
        let old = pg.class as usize;
        if class <= old {
            return class == old;
        }
        let slices = slices_for(class);
        if slices > pg.slices as usize && !(*seg).grow_span(page, slices) {
            return false;
        }
        pg.relabel(class);
        GLOBAL.tier_bytes[Tier::Big as usize].add((class_size(class) - class_size(old)) as u64);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::big::init_span;
    use crate::segment::{self, SegmentKind, SLICE};
    use crate::size_class::class_of;

    #[test]
    fn a_block_grows_into_the_free_slices_after_it_and_not_into_a_neighbour() {
        // A segment of our own, on no arena's list, so that no other test takes its slices;
        // growing locks the arena it names.
        let seg = segment::map_new(SegmentKind::Arena).unwrap();
        let small = class_of(40 << 10);
        let two = class_of(100 << 10);
        let three = class_of(150 << 10);
        assert_eq!(
            (slices_for(small), slices_for(two), slices_for(three)),
            (1, 2, 3)
        );
        // SAFETY: the segment is fresh and ours; its spans are set up as the arena's are, used
        // as live blocks, and given back before it is unmapped.
        unsafe {
            let s = &mut *seg;
            s.arena = 3;
            let page = init_span(s.take_span(1).unwrap(), small);
            (*page).set_used(1);
            let a = (*page).start;
            assert!(
                grow_in_place(page, a, two),
                "the slices after a fresh span are free"
            );
            assert_eq!((*page).slices, 2);
            assert_eq!(
                ((*page).class as usize, (*page).block_size as usize),
                (two, class_size(two))
            );
            assert_eq!(Segment::page_of(a.add(2 * SLICE - 1)), page);
            core::ptr::write_bytes(a, 0x5A, class_size(two));
            // A span right after it stops the next growth, which then changes nothing.
            let next = s.take_span(1).unwrap();
            assert_eq!((*next).start, a.add(2 * SLICE));
            assert!(!grow_in_place(page, a, three));
            assert_eq!(((*page).slices, (*page).class as usize), (2, two));
            // A smaller class is not a growth; the same class is one already done.
            assert!(!grow_in_place(page, a, small));
            assert!(grow_in_place(page, a, two));
            s.give_span(next, true, 0);
            assert!(grow_in_place(page, a, three), "the neighbour is gone");
            assert_eq!(Segment::page_of(a.add(3 * SLICE - 1)), page);
            s.give_span(page, true, 0);
            assert!(s.is_empty());
            segment::unmap(seg);
        }
    }
}
