//! The free slices of idle heaps, given back by other threads.
//!
//! SACS has no background thread: a heap's segments are purged by its own thread, on its slow
//! paths (`small::retire::purge_segments`), once their dirty free slices have waited out the
//! heap's purge delay. A thread that frees its working set and then blocks (a pool's worker
//! between jobs, a server's thread after a burst) makes no such call, and its free slices stay
//! resident for as long as it waits: `workload pool-small`'s 16 waiting workers held 3.8 MiB
//! each that way, 59 MiB in all.
//!
//! The shared purge look (`heap::tick::global_tick`, run by whichever thread's slow path comes
//! first, at most every `SACS_HOT_MS / 2`) walks the segments of the segment space
//! ([`segment_space::for_each_live`]) and takes the dirty free slices of each heap segment
//! whose owner has let them go past its own purge time by `SACS_HOT_MS` more
//! ([`Segment::reserve_idle`]): an owner that made a purge look in that time would have given
//! them back itself. They leave the free slices while the system calls run (so neither the
//! owner nor anyone else carves them), and come back as free and clean, with the time of their
//! decommit, which the owner's purge delay learns from as from its own purges (taken back soon
//! after, the delay grows, and the look then waits longer). `sacs::purge()` and `malloc_trim`
//! take every dirty free slice of every heap at once.
//!
//! Synchronisation: the slice state of a segment is held, for bit operations only, by whoever
//! reads or writes it (`Segment::hold`): the owner's methods wait for the look, the look only
//! tries (a held segment is skipped until the next look). A segment whose slices are all free
//! is left to its owner, which may be giving it to the cache or unmapping it; one with slices
//! taken out cannot look empty, so it stays mapped until the look gives them back. The look
//! holds a segment's slice state only with the slot lock held (`segment_space`), which the
//! fork handlers take: a child never starts with a hold of the look's that no thread of its
//! own would let go.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use arrayvec::ArrayVec;

use super::{decommit_runs, Segment, ALL_FREE, SAMPLE_OWNER};
use crate::options::{self, Opt};
use crate::segment_space;

/// Segments one look takes slices from at most (the rest wait for the next look).
const TAKE_MAX: usize = 64;

/// When (ms) the next walk may start.
static NEXT_WALK: AtomicU64 = AtomicU64::new(0);

impl Segment {
    /// For the shared look, if no one holds the slice state: when this is a thread heap's
    /// segment with a slice in use, and its dirty free slices are due for the owner's purge
    /// look by `grace` ms and more (all of them with `force`), takes them out of the free
    /// slices and returns them; 0 otherwise. The caller decommits them and gives them back with
    /// [`finish_purge`](Self::finish_purge).
    pub fn reserve_idle(&mut self, now: u64, grace: u64, force: bool) -> u64 {
        let Some(_held) = self.try_hold() else {
            return 0;
        };
        let owner = self.owner.load(Relaxed);
        // Abandoned or cached (0), or Site Rules' samples (purged by `site::purge`).
        let not_a_heap = owner == 0 || owner == SAMPLE_OWNER;
        if not_a_heap || self.free_slices == ALL_FREE || self.dirty_slices == 0 {
            return 0;
        }
        let due = self
            .purge_at
            .saturating_add(self.purge_extra)
            .saturating_add(grace);
        if !force && (self.purge_at == 0 || now < due) {
            return 0;
        }
        let old = self.dirty_slices & self.free_slices;
        self.free_slices &= !old;
        self.dirty_slices &= !old;
        old
    }
}

/// The shared look's part in idle heaps' segments (see the module doc): decommits the dirty
/// free slices their owners have left past their purge time by `SACS_HOT_MS`, at most every
/// `SACS_HOT_MS / 2` (every dirty free slice of every heap, at every call, with `force`).
/// Returns whether slices were left for a later look (more than one look takes).
pub fn purge_idle(now: u64, force: bool) -> bool {
    let hot = options::get(Opt::HotMs) as u64;
    if !crate::purge::claim_turn(&NEXT_WALK, now, hot / 2, force) {
        return false;
    }
    let mut taken: ArrayVec<(*mut Segment, u64), TAKE_MAX> = ArrayVec::new_const();
    let mut left = false;
    segment_space::for_each_live(|base| {
        if taken.is_full() {
            left = true;
            return;
        }
        let seg = base as *mut Segment;
        // SAFETY: a live segment of the space, which stays mapped while the walk holds the slot
        // lock; `reserve_idle` touches the slice state only with it held.
        let old = unsafe { (*seg).reserve_idle(now, hot, force) };
        if old != 0 {
            taken.push((seg, old));
        }
    });
    for (seg, old) in taken {
        // SAFETY: `old` are slices of `seg` taken out of its free slices above: no one carves
        // or uses them, and the segment cannot look empty, so it stays mapped, until
        // `finish_purge` gives them back. That holds the slice state under the slot lock, so a
        // fork never finds it held by this thread (the child could not let it go).
        unsafe {
            let done = decommit_runs(seg, old);
            segment_space::with_slots_held(|| (*seg).finish_purge(old, done));
        }
        crate::stats::GLOBAL
            .idle_heap_slices
            .add(old.count_ones() as u64);
    }
    left
}

#[cfg(test)]
mod tests {
    use super::super::{map_new, unmap, SegmentKind, SLICE};
    use super::*;

    /// A heap segment owned by a made-up heap address, with two single-slice spans taken and
    /// the first given back dirty at `since` (due at `since` + `SACS_PURGE_DELAY_MS`).
    fn segment_with_a_dirty_slice(since: u64) -> (*mut Segment, *mut crate::page::Page) {
        let seg = map_new(SegmentKind::Heap).unwrap();
        // SAFETY: the segment is fresh and ours.
        unsafe {
            (*seg).owner.store(0x1000, Relaxed);
            let a = (*seg).take_span(1).unwrap();
            let b = (*seg).take_span(1).unwrap();
            (*seg).give_span(a, true, since);
            (seg, b)
        }
    }

    fn release(seg: *mut Segment, b: *mut crate::page::Page) {
        // SAFETY: the segment and `b` are ours; nothing else refers to them.
        unsafe {
            (*seg).give_span(b, false, 1);
            Segment::purge(seg);
            (*seg).owner.store(0, Relaxed);
            unmap(seg);
        }
    }

    #[test]
    fn an_idle_owners_dirty_slices_are_taken_after_its_own_delay_and_the_grace() {
        let delay = options::get(Opt::PurgeDelayMs) as u64;
        let (seg, b) = segment_with_a_dirty_slice(1000);
        // SAFETY: the segment is ours.
        let s = unsafe { &mut *seg };
        // The owner's look before the slice was due records its extra delay (50 ms).
        assert_eq!(s.reserve_purge_after(1000, false, 50), 0);
        let due = 1000 + delay + 50 + 100;
        assert_eq!(
            s.reserve_idle(due - 1, 100, false),
            0,
            "taken before it was due"
        );
        let old = s.reserve_idle(due, 100, false);
        assert_eq!(old, 1 << 1, "slice 1, dirty and free, is taken");
        assert!(!s.is_empty());
        assert_eq!(s.slice_bits().0 & old, 0, "taken slices cannot be carved");
        assert_eq!(s.reserve_idle(due, 100, true), 0, "nothing left dirty");
        // SAFETY: `old` was reserved above.
        unsafe {
            let done = decommit_runs(seg, old);
            assert_eq!(s.finish_purge(old, done), SLICE);
        }
        let (free, dirty) = s.slice_bits();
        assert_ne!(free & old, 0, "given back free");
        assert_eq!(dirty, 0, "and clean");
        assert!(
            s.last_decommit() > 0,
            "remembering when, for the owner's delay"
        );
        release(seg, b);
    }

    #[test]
    fn segments_that_are_no_idle_heaps_are_left_alone() {
        let (seg, b) = segment_with_a_dirty_slice(1000);
        // SAFETY: the segment is ours.
        let s = unsafe { &mut *seg };
        let late = u64::MAX / 2;
        {
            let _held = s.hold();
            assert_eq!(s.reserve_idle(late, 0, true), 0, "taken while held");
        }
        for owner in [0, SAMPLE_OWNER] {
            s.owner.store(owner, Relaxed);
            assert_eq!(s.reserve_idle(late, 0, true), 0, "taken with owner {owner}");
        }
        s.owner.store(0x1000, Relaxed);
        // With every slice free the segment is its owner's to give away.
        // SAFETY: `b` is a span of ours with no blocks.
        unsafe { s.give_span(b, true, 1000) };
        assert_eq!(
            s.reserve_idle(late, 0, true),
            0,
            "an empty segment was taken from"
        );
        let b = s.take_span(1).unwrap();
        let old = s.reserve_idle(late, 0, true);
        assert_ne!(old, 0, "force takes every dirty slice");
        // SAFETY: as in the test above: give the reserved slices back, then release.
        unsafe {
            let done = decommit_runs(seg, old);
            s.finish_purge(old, done);
        }
        release(seg, b);
    }
}
