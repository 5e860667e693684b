//! Segments of exited threads. A thread that exits gives its empty pages back to their segments
//! and its empty segments to the segment cache; segments that still hold live blocks go to the
//! process-wide abandoned list with no owner. Blocks on them stay valid: other threads free
//! them through the pages' remote lists. The next thread whose COLD path finds no page adopts a
//! few of them ([`adopt_one`]); `sacs::purge()` adopts them all ([`adopt_all`]); and the shared
//! purge look decommits their dirty free slices meanwhile ([`purge_abandoned`]).

use core::sync::atomic::Ordering::Relaxed;

use arrayvec::ArrayVec;

use super::{count_long_page, retire, Pages, SLOTS, WARM_NARROW, WARM_WIDE};
use crate::lock::Lock;
use crate::page::{PageKind, EMPTY, IN_FULL, LONG_LIVED};
use crate::platform;
use crate::purge;
use crate::segment::{self, Segment, SegmentList};
use crate::stats::GLOBAL;

/// Segments of exited threads that still hold live blocks.
static ABANDONED: Lock<SegmentList> = Lock::new(SegmentList::new());

/// Abandons every page of `pages`: free pages go back to their segments, empty segments to the
/// cache, the rest to the abandoned list.
///
/// # Safety
/// - `pages` belongs to a heap that no thread will use again.
pub unsafe fn abandon(pages: &mut Pages, now: u64) {
    // SAFETY: per the contract, `pages` and everything it owns are ours.
    unsafe {
        for slot in 0..SLOTS {
            let cur = pages.current[slot];
            if cur != EMPTY.ptr() {
                (*cur).held -= 1; // the pin
                pages.partial[slot].push_front(cur);
                pages.set_current(slot, EMPTY.ptr());
            }
            while let Some(page) = pages.partial[slot]
                .pop_front()
                .or_else(|| pages.full[slot].pop_front())
            {
                let p = &mut *page;
                p.collect_remote();
                if p.flags & LONG_LIVED != 0 {
                    count_long_page(p, false);
                }
                if p.flags & IN_FULL != 0 {
                    p.leave_full();
                }
                p.flags = 0;
                if p.used() == 0 {
                    retire::release_span(pages, page, now);
                } else {
                    p.owner.store(0, Relaxed);
                }
            }
        }
        for pool in [WARM_NARROW, WARM_WIDE] {
            while let Some(page) = pages.warm[pool].pop_front() {
                (*page).flags = 0;
                retire::release_span(pages, page, now);
            }
        }
        let extra = pages.purge_delay.extra();
        let mut abandoned = 0;
        while let Some(seg) = pages.segments.pop_front() {
            if (*seg).is_empty() {
                segment::cache::put(seg, now);
            } else {
                Segment::purge_if_due_after(seg, now, false, extra);
                (*seg).owner.store(0, Relaxed);
                ABANDONED.lock().push_back(seg);
                abandoned += 1;
            }
        }
        GLOBAL.segments_abandoned.add(abandoned);
    }
}

/// Adopts one abandoned segment (if any) into `pages`: its empty pages go back to the segment,
/// the others onto the partial or full lists. Returns whether it adopted one.
///
/// # Safety
/// - `pages` is the calling thread's page set (or the backstop's under its lock).
pub unsafe fn adopt_one(pages: &mut Pages) -> bool {
    let Some(seg) = ABANDONED.lock().pop_front() else {
        return false;
    };
    GLOBAL.segments_adopted.add(1);
    let me = pages.id();
    // SAFETY: an abandoned segment has no owner; taking it off the list made it ours.
    unsafe {
        let s = &mut *seg;
        purge::note_adopted(s.last_decommit(), platform::now_ms());
        s.owner.store(me, Relaxed);
        pages.segments.push_front(seg);
        let mut i = 1;
        while i < segment::SLICES {
            let page = s.pages.as_mut_ptr().add(i);
            let p = &mut *page;
            let n = p.slices.max(1) as usize;
            if p.slices > 0 && p.kind == PageKind::Small as u8 {
                p.owner.store(me, Relaxed);
                p.collect_remote();
                // An adopted page is an ordinary one of its class (its flags are cleared).
                let class = p.class as usize;
                if p.used() == 0 {
                    // Back to the segment, which stays ours (releasing the segment here could
                    // unmap it under this loop).
                    retire::drop_holes(p);
                    p.flags = 0;
                    s.give_span(page, true, platform::now_ms());
                } else if p.has_room() {
                    p.flags = 0;
                    pages.partial[class].push_back(page);
                } else {
                    p.flags = 0;
                    p.enter_full();
                    pages.full[class].push_back(page);
                }
            }
            i += n;
        }
    }
    true
}

/// Adopts every abandoned segment into `pages`, so that their free pages can be released (what
/// `sacs::purge()` does).
///
/// # Safety
/// - as for [`adopt_one`].
pub unsafe fn adopt_all(pages: &mut Pages) {
    // SAFETY: per the contract.
    while unsafe { adopt_one(pages) } {}
}

/// Segments taken off the abandoned list at a time to be purged.
const PURGE_BATCH: usize = 16;

/// Decommits the dirty free slices of abandoned segments whose purge deadline passed (all of
/// them with `force`): their owners are gone, so no thread's look would reach them. The
/// segments are taken off the list while their memory is given back, so no lock is held across
/// the `madvise` calls; an adopter meanwhile simply does not see them.
///
/// They wait `SACS_PURGE_DELAY_MS` and as much longer as the abandoned segments' own purge
/// delay has learned (`purge::abandoned_extra`): a program that replaces its threads has the next
/// ones adopt the segments at once, and decommitting them in between only makes the adopters
/// fault the pages back ([`adopt_one`] tells the delay when that happened).
#[inline(never)]
pub fn purge_abandoned(now: u64, force: bool) {
    let extra = purge::abandoned_extra();
    let mut bytes = 0;
    // Each segment is looked at once per call, even when the kernel refuses and it stays due.
    let mut budget = ABANDONED.lock().len;
    while budget > 0 {
        let mut batch = ArrayVec::<*mut Segment, PURGE_BATCH>::new();
        {
            let mut list = ABANDONED.lock();
            let mut seg = list.head;
            while !seg.is_null() && !batch.is_full() && budget > 0 {
                // SAFETY: abandoned segments are only touched under the lock (adopters pop them
                // first); `next` is read before the segment is unlinked.
                unsafe {
                    let next = (*seg).next;
                    if (*seg).purge_due_after(now, force, extra) {
                        list.remove(seg);
                        batch.push(seg);
                        budget -= 1;
                    }
                    seg = next;
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        for &seg in &batch {
            // SAFETY: off the list, the segment is ours alone until it goes back.
            bytes += unsafe { Segment::purge_if_due_after(seg, now, force, extra) };
        }
        let mut list = ABANDONED.lock();
        for seg in batch {
            // SAFETY: taken off this list above, on no other.
            unsafe { list.push_back(seg) };
        }
    }
    if !force {
        purge::judge_abandoned(now, bytes);
    }
}

/// The abandoned list's lock, for the fork handlers.
pub(crate) fn lock_for_fork() -> &'static Lock<impl Sized> {
    &ABANDONED
}
