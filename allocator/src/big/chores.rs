//! The big tier's system calls: what an arena's purge look or eviction decides under the
//! arena's lock ([`Chores`]) and [`finish`] does after letting it go, so that no lock is held
//! across a system call (architecture.md, "No spin lock across a system call").

use arrayvec::ArrayVec;

use super::ARENA_LOCKS;
use crate::page::{PageList, WARM};
use crate::platform;
use crate::purge;
use crate::segment::{self, Segment, SegmentList, SLICE};
use crate::size_class::{class_size, BIG_FIRST};
use crate::stats::GLOBAL;

/// Bound on the dirty runs one purge look reserves (segments beyond it wait for the next look).
const RESERVED_MAX: usize = 16;

/// What an arena's purge look or eviction decides under the arena lock and does after it: every
/// system call of the big tier ([`finish`]). What is in here is on no list and in no free slice,
/// so no other thread can take it meanwhile.
pub(super) struct Chores {
    /// Cached blocks going cold, taken off the cache: decommit, then give back to the segment.
    pub(super) cool: PageList,
    /// Cached blocks going warm, taken off the cache, newest first per class: MADV_FREE, then
    /// back into the cache in age order.
    pub(super) warm: PageList,
    /// Dirty runs reserved in arena segments ([`Segment::reserve_purge`]): decommit, then give
    /// back ([`Segment::finish_purge`]).
    pub(super) runs: ArrayVec<(*mut Segment, u64), RESERVED_MAX>,
    /// Empty segments taken out of the arena, for the segment cache.
    pub(super) empty: SegmentList,
}

impl Chores {
    pub(super) fn new() -> Self {
        Self {
            cool: PageList::new(),
            warm: PageList::new(),
            runs: ArrayVec::new_const(),
            empty: SegmentList::new(),
        }
    }
}

/// Does the `chores` of arena `index` with its lock released: the system calls first, then,
/// under the lock again, gives the blocks and runs back (segments they empty leave the arena),
/// then hands the empty segments to the segment cache (which may unmap) with no lock held.
/// Returns whether what went back leaves the arena memory to purge later.
pub(super) fn finish(index: usize, chores: &mut Chores, now: u64) -> bool {
    let mut left = false;
    if !(chores.cool.is_empty() && chores.warm.is_empty() && chores.runs.is_empty()) {
        // Blocks the kernel would not decommit go back dirty.
        let mut refused = PageList::new();
        let mut cooled = PageList::new();
        while let Some(page) = chores.cool.pop_front() {
            // SAFETY: a cached block taken off its list under the lock: ours alone, its contents
            // dead, its slices in no free run.
            unsafe {
                let ok = platform::decommit((*page).start, (*page).slices as usize * SLICE);
                if ok {
                    cooled.push_back(page);
                } else {
                    refused.push_back(page);
                }
            }
        }
        let mut p = chores.warm.head;
        while !p.is_null() {
            // SAFETY: as above.
            unsafe {
                platform::release_lazily((*p).start, (*p).slices as usize * SLICE);
                p = (*p).next;
            }
        }
        let mut done: ArrayVec<u64, RESERVED_MAX> = ArrayVec::new_const();
        for &(seg, mask) in chores.runs.iter() {
            // SAFETY: the runs are reserved: out of the free slices, so no one takes or uses
            // them until `finish_purge`; the segment stays in the arena meanwhile.
            done.push(unsafe { segment::decommit_runs(seg, mask) });
        }
        let mut a = ARENA_LOCKS[index].lock();
        for (list, decommitted) in [(&mut cooled, true), (&mut refused, false)] {
            while let Some(page) = list.pop_front() {
                // SAFETY: a block of this arena taken off the cache, its span still taken.
                unsafe {
                    let seg = Segment::of((*page).start);
                    (*seg).give_span(page, !decommitted, now);
                    GLOBAL.big_cache_cooled.add(1);
                    // Only the last give-back into a segment can empty it, so it leaves once.
                    if (*seg).is_empty() {
                        a.segments.remove(seg);
                        chores.empty.push_back(seg);
                    }
                }
            }
        }
        while let Some(first) = chores.warm.pop_front() {
            // The blocks of one class, newest first, back into their list in age order.
            let mut back = PageList::new();
            // SAFETY: blocks of this arena taken off the cache (used 0, on no list but ours),
            // now under the arena lock again.
            let class = unsafe {
                let class = (*first).class as usize;
                back.push_back(first);
                while !chores.warm.head.is_null() && (*chores.warm.head).class as usize == class {
                    let page = chores.warm.pop_front().expect("non-empty list");
                    back.push_back(page);
                }
                let mut p = back.head;
                while !p.is_null() {
                    (*p).flags |= WARM;
                    a.count_cached(class_size(class));
                    GLOBAL.big_cache_warmed.add(1);
                    p = (*p).next;
                }
                class
            };
            a.cache[class - BIG_FIRST].merge_newest_first(&mut back, |p| {
                // SAFETY: cached blocks are valid under the arena lock.
                unsafe { (*p).since }
            });
        }
        for (&(seg, mask), &done) in chores.runs.iter().zip(done.iter()) {
            // SAFETY: reserved by `reserve_purge` on this segment, `done` from `decommit_runs`.
            unsafe {
                (*seg).finish_purge(mask, done);
                if (*seg).is_empty() && !(*seg).has_dirty() {
                    a.segments.remove(seg);
                    chores.empty.push_back(seg);
                }
            }
        }
        chores.runs.clear();
        // What went back (warm blocks, runs the kernel refused) sets the next pass.
        a.recompute_due(now);
        left = a.holds_any();
        drop(a);
        if left {
            purge::note_deferred();
        }
    }
    while let Some(seg) = chores.empty.pop_front() {
        // SAFETY: an empty segment out of the arena, on no list, ours alone.
        unsafe { segment::cache::put(seg, now) };
    }
    left
}
