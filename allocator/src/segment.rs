//! Segments: 4 MiB regions aligned to 4 MiB, cut into 64 slices of 64 KiB.
//!
//! Slice 0 holds the segment header ([`Segment`]): the slice bitmaps and one [`Page`] entry per
//! slice. The other 63 slices are handed out as spans: one slice for a tiny page, eight for a mid
//! page, up to 32 for a big block. Because segments are aligned, the metadata of any address in
//! one is found with no search and no per-object header:
//!
//! ```text
//!   segment = addr & !(SEGMENT - 1)
//!   slice   = (addr - segment) >> SLICE_SHIFT
//!   page    = &segment.pages[0] + segment.span_page[slice]    (a byte offset)
//! ```
//!
//! A segment belongs either to one thread heap (tiny and mid pages) or to one big arena. Free
//! slices are tracked in `free_slices`; those whose memory may still be resident are also in
//! `dirty_slices`, each with the time it became dirty (`dirty_at`). In a big arena's segment
//! [`Segment::purge_if_due_after`] decommits only the slices that have been dirty for
//! `SACS_PURGE_DELAY_MS`, so a span freed a moment ago stays committed for the next big block,
//! which takes dirty runs first ([`Segment::take_dirty_span`], no page faults); in a heap
//! segment it decommits every dirty slice once the oldest is due. Empty segments go to the
//! process-wide [`cache`] and are unmapped after a delay or when it is full.

use core::sync::atomic::{
    AtomicBool, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};

use crate::options::{self, Opt};
use crate::page::{Page, PageKind};
use crate::platform;
use crate::segment_map;
use crate::segment_space;
use crate::stats::GLOBAL;

pub use crate::segment_map::SEGMENT_SHIFT;
pub use crate::segment_space::SLICE_SHIFT;
/// Size and alignment of a segment.
pub const SEGMENT: usize = 1 << SEGMENT_SHIFT;
/// Size of a slice.
pub const SLICE: usize = 1 << SLICE_SHIFT;
/// Slices per segment.
pub const SLICES: usize = SEGMENT / SLICE;
/// `free_slices` of an empty segment: every slice but the header.
pub const ALL_FREE: u64 = !1u64;
/// `owner` of Site Rules' sample segments: no heap's address (heaps are aligned), no idle heap.
pub const SAMPLE_OWNER: usize = 1;

/// Who owns a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SegmentKind {
    /// Tiny and mid pages of one thread heap.
    Heap = 1,
    /// Big blocks of one big arena.
    Arena = 2,
}

/// The header in slice 0 of every segment.
#[repr(C)]
pub struct Segment {
    /// [`SegmentKind`] as a byte.
    pub kind: u8,
    /// Index of the owning arena (arena segments).
    pub arena: u8,
    /// Held ([`Segment::hold`]) for its bit operations by every method that touches the slice
    /// state below (`free_slices`, `dirty_slices`, `purge_at`, `purge_extra`, `dirty_at`).
    held: AtomicBool,
    /// Owning heap's address (heap segments); 0 while abandoned.
    pub owner: AtomicUsize,
    /// Bit `i`: slice `i` belongs to no span.
    free_slices: u64,
    /// Free slices whose memory may be resident.
    dirty_slices: u64,
    /// Milliseconds after which the oldest dirty slice is due for decommit (0: nothing dirty).
    /// Never later than the true earliest deadline; a look may find nothing due and move it on.
    purge_at: u64,
    /// The owner's `purge::PurgeDelay` extra (ms) at its last look; [`idle`] waits that and more.
    purge_extra: u64,
    /// When the segment entered the segment cache.
    pub cached_at: u64,
    /// When (ms) the segment cache's purge last decommitted slices of this segment while it sat
    /// there (0: not since it entered): taking it back soon after tells the cache's delay that
    /// the purge was premature (`segment::cache::take`).
    pub cache_purged_at: u64,
    /// Links in the owner's segment list, the abandoned list or the cache.
    pub next: *mut Segment,
    pub prev: *mut Segment,
    /// For each slice inside a span, the byte offset of the span's page entry from `pages[0]`
    /// (`first slice * size_of::<Page>()`); 0, the header slice's never-used entry, for a slice
    /// in no span. Kept as an offset so the HOT free finds the entry with no multiplication.
    pub span_page: [u16; SLICES],
    /// Page metadata, by first slice of the span.
    pub pages: [Page; SLICES],
    /// For each dirty free slice, when (ms) its memory was last used; for each clean free slice,
    /// when (ms) it was decommitted (0: never, the slice is fresh). Taking a span reports the
    /// latter, so that an owner can tell memory it purged a moment ago from fresh memory.
    dirty_at: [u64; SLICES],
}

const _: () = assert!(core::mem::size_of::<Segment>() <= SLICE);
const _: () = assert!(SLICE == crate::size_class::PAGE_ALIGN);
const _: () = assert!(SLICES * core::mem::size_of::<Page>() <= u16::MAX as usize);

/// A hold on a segment's slice state ([`Segment::hold`]), let go when dropped.
struct Held(*const AtomicBool);

impl Drop for Held {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the flag of a segment that outlives the hold (a method's `self`, or a
        // segment the shared look keeps from unmapping; see `idle`).
        unsafe { (*self.0).store(false, Release) };
        crate::platform::tls::lock_released();
    }
}

impl Segment {
    /// Holds the slice state, waiting (backing off as a spin lock does) while another thread
    /// holds it for its few bit operations; Release on drop pairs with the Acquire here. A held
    /// spin lock to validation builds, which abort on a system call made while holding it.
    #[inline]
    fn hold(&self) -> Held {
        let mut spins = 0;
        while self.held.swap(true, Acquire) {
            while self.held.load(Relaxed) {
                crate::lock::back_off(&mut spins);
            }
        }
        crate::platform::tls::lock_taken();
        Held(&self.held)
    }

    /// [`hold`](Self::hold) if no one holds the slice state now.
    #[inline]
    fn try_hold(&self) -> Option<Held> {
        if self.held.swap(true, Acquire) {
            return None;
        }
        crate::platform::tls::lock_taken();
        Some(Held(&self.held))
    }

    /// The segment containing `addr` (which must be inside a segment).
    #[inline(always)]
    pub fn of(addr: *const u8) -> *mut Segment {
        (addr as usize & !(SEGMENT - 1)) as *mut Segment
    }

    /// The page entry of the span containing `addr`.
    ///
    /// # Safety
    /// - `addr` lies inside a live segment.
    #[inline(always)]
    pub unsafe fn page_of(addr: *const u8) -> *mut Page {
        let seg = Self::of(addr);
        let slice = (addr as usize - seg as usize) >> SLICE_SHIFT;
        // SAFETY: the caller guarantees `seg` is a live segment; `slice < SLICES`.
        unsafe {
            let offset = *(*seg).span_page.get_unchecked(slice) as usize;
            (*seg).pages.as_mut_ptr().byte_add(offset)
        }
    }

    /// Start address of slice `index`.
    #[inline]
    pub fn slice_start(&self, index: usize) -> *mut u8 {
        (self as *const Segment as usize + index * SLICE) as *mut u8
    }

    /// Index of `page` in `pages`.
    #[inline]
    pub fn page_index(&self, page: *const Page) -> usize {
        (page as usize - self.pages.as_ptr() as usize) / core::mem::size_of::<Page>()
    }

    /// Whether every slice but the header is free.
    #[inline]
    pub fn is_empty(&self) -> bool {
        let _held = self.hold();
        self.free_slices == ALL_FREE
    }

    /// Whether a free slice may be resident (a purge look has work).
    #[inline]
    pub fn has_dirty(&self) -> bool {
        let _held = self.hold();
        self.dirty_slices != 0
    }

    /// The free slices and the dirty ones among them, as bitmaps (bit `i`: slice `i`).
    pub fn slice_bits(&self) -> (u64, u64) {
        let _held = self.hold();
        (self.free_slices, self.dirty_slices)
    }

    /// Slices in spans (the header not counted).
    #[inline]
    pub fn used_slices(&self) -> usize {
        let _held = self.hold();
        (!self.free_slices & ALL_FREE).count_ones() as usize
    }

    /// Takes the first run of `n` free slices; returns the page entry of the new span, whose
    /// `ZERO` flag says whether all of its memory is known to be zero. The page is not yet
    /// initialised for a class.
    pub fn take_span(&mut self, n: usize) -> Option<*mut Page> {
        self.take_span_purged(n).map(|(page, _)| page)
    }

    /// [`take_span`](Self::take_span), also returning when (ms) the most recently decommitted
    /// slice of the span was decommitted: 0 when every slice was dirty or fresh.
    pub fn take_span_purged(&mut self, n: usize) -> Option<(*mut Page, u64)> {
        debug_assert!((1..SLICES).contains(&n));
        let _held = self.hold();
        let head = first_run(self.free_slices, n)?;
        // SAFETY: `head` starts a run of `n` free slices.
        Some(unsafe { self.take_span_at(head, n) })
    }

    /// Takes the first run of `n` free slices that are all dirty (committed, no page faults on
    /// reuse), if there is one.
    pub fn take_dirty_span(&mut self, n: usize) -> Option<*mut Page> {
        debug_assert!((1..SLICES).contains(&n));
        let _held = self.hold();
        let head = first_run(self.free_slices & self.dirty_slices, n)?;
        // SAFETY: `head` starts a run of `n` free slices.
        Some(unsafe { self.take_span_at(head, n) }.0)
    }

    /// Takes the `n` free slices from `head` as a span. Returns its page entry and when its most
    /// recently decommitted slice was decommitted (0: none was).
    ///
    /// # Safety
    /// - slices `head .. head + n` are free and inside the segment.
    unsafe fn take_span_at(&mut self, head: usize, n: usize) -> (*mut Page, u64) {
        let (dirty, purged) = self.claim(head, head, n);
        let start = self.slice_start(head);
        let page = &mut self.pages[head];
        page.slices = n as u8;
        page.flags = if dirty == 0 { crate::page::ZERO } else { 0 };
        page.start = start;
        (page as *mut Page, purged)
    }

    /// Lengthens the span of `page` to `slices` slices when the slices after it are free, and
    /// returns whether it did. The span's memory stays where it is; the slices it gains count as
    /// committed, dirty or not.
    ///
    /// # Safety
    /// - `page` is a span head of this segment, at most `slices` slices long.
    pub unsafe fn grow_span(&mut self, page: *mut Page, slices: usize) -> bool {
        let head = self.page_index(page);
        // SAFETY: `page` is a span head of this segment.
        let n = unsafe { (*page).slices as usize };
        debug_assert!(n > 0 && n <= slices);
        if head + slices > SLICES {
            return false;
        }
        let mask = run_mask(head + n, slices - n);
        let _held = self.hold();
        if self.free_slices & mask != mask {
            return false;
        }
        self.claim(head, head + n, slices - n);
        // SAFETY: as above.
        unsafe { (*page).slices = slices as u8 };
        true
    }

    /// Takes the `n` free slices from `first` into the span whose head is slice `head`: out of
    /// the free (and dirty) slices, committed, mapped to the span's page entry. Returns which of
    /// them were dirty and when the most recently decommitted of the others was decommitted (0:
    /// none was).
    fn claim(&mut self, head: usize, first: usize, n: usize) -> (u64, u64) {
        let mask = run_mask(first, n);
        debug_assert_eq!(self.free_slices & mask, mask);
        let dirty = self.dirty_slices & mask;
        let clean = mask & !dirty;
        self.free_slices &= !mask;
        self.dirty_slices &= !mask;
        if self.dirty_slices == 0 {
            self.purge_at = 0;
        }
        // Clean slices were fresh or decommitted: using them commits them again.
        GLOBAL.committed(clean.count_ones() as usize * SLICE);
        let mut purged = 0;
        let mut bits = clean;
        while bits != 0 {
            purged = purged.max(self.dirty_at[bits.trailing_zeros() as usize]);
            bits &= bits - 1;
        }
        for s in first..first + n {
            self.span_page[s] = (head * core::mem::size_of::<Page>()) as u16;
        }
        let page_ptr = &mut self.pages[head] as *mut Page;
        segment_space::set_pages(self as *mut Segment as usize, first, n, page_ptr);
        (dirty, purged)
    }

    /// Returns the span of `page` to the free slices. With `dirty`, its memory may be resident
    /// and will be decommitted once it has been dirty for the purge delay, counted from `since`
    /// (milliseconds: when the span's memory was last used); without, the caller has
    /// decommitted it already, at `since`.
    ///
    /// Committed-bytes accounting: a segment counts its header slice, its spans and its dirty
    /// free slices as committed.
    ///
    /// # Safety
    /// - `page` is a span head of this segment whose blocks are all free.
    pub unsafe fn give_span(&mut self, page: *mut Page, dirty: bool, since: u64) {
        let head = self.page_index(page);
        // SAFETY: `page` is a span head of this segment.
        let n = unsafe { (*page).slices as usize };
        debug_assert!(n > 0 && head + n <= SLICES);
        let mask = run_mask(head, n);
        let _held = self.hold();
        debug_assert!(self.free_slices & mask == 0, "span given back twice");
        self.free_slices |= mask;
        if dirty {
            self.dirty_slices |= mask;
            for t in &mut self.dirty_at[head..head + n] {
                *t = since;
            }
            let due = since + options::get(Opt::PurgeDelayMs) as u64;
            if self.purge_at == 0 || due < self.purge_at {
                self.purge_at = due.max(1);
            }
        } else {
            // The caller decommitted the span, at `since`: taking these slices again reports it
            // (`take_span_purged`).
            GLOBAL.decommitted(n * SLICE);
            for t in &mut self.dirty_at[head..head + n] {
                *t = since;
            }
        }
        for s in head..head + n {
            self.span_page[s] = 0;
        }
        let unused = self.pages.as_mut_ptr();
        segment_space::set_pages(self as *mut Segment as usize, head, n, unused);
        // SAFETY: `page` is ours; clearing it marks the entry as no span.
        unsafe {
            (*page).slices = 0;
            (*page).kind = PageKind::None as u8;
            (*page).block_size = 0;
            (*page).extended = 0;
            (*page).carved.store(0, Relaxed);
            debug_assert!(!(*page).has_holes(), "a span given back with holes");
            (*page).owner.store(0, Relaxed);
        }
    }

    /// Decommits every dirty free slice, one madvise per contiguous run; returns the bytes.
    ///
    /// # Safety
    /// - as for [`purge_if_due_after`](Self::purge_if_due_after).
    #[cfg(test)]
    pub unsafe fn purge(seg: *mut Segment) -> usize {
        // SAFETY: per the contract.
        unsafe { Self::purge_if_due_after(seg, 0, true, 0) }
    }

    /// The dirty free slices that became dirty at or before `limit` (ms).
    fn dirty_older(&self, limit: u64) -> u64 {
        let mut old = 0u64;
        let mut bits = self.dirty_slices & self.free_slices;
        while bits != 0 {
            let s = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if self.dirty_at[s] <= limit {
                old |= 1 << s;
            }
        }
        old
    }

    /// The bookkeeping of a purge look, once the system calls are made: `old` are the dirty
    /// free slices that were due (free and dirty again), `done` those of them the kernel
    /// decommitted. Marks `done` clean (remembering when, for `take_span_purged`), counts them,
    /// and moves `purge_at` to the next slice's deadline. Returns bytes given back.
    fn settle_purge(&mut self, old: u64, done: u64) -> usize {
        debug_assert_eq!(done & !old, 0);
        let bytes = done.count_ones() as usize * SLICE;
        // Decommitted slices remember when, for `take_span_purged` (a clock read per purge look
        // that gives memory back; the madvise costs far more).
        let now = if done != 0 {
            platform::now_ms().max(1)
        } else {
            0
        };
        self.dirty_slices &= !done;
        let mut bits = done;
        while bits != 0 {
            self.dirty_at[bits.trailing_zeros() as usize] = now;
            bits &= bits - 1;
        }
        GLOBAL.purged_bytes.add(bytes as u64);
        GLOBAL.decommitted(bytes);
        let mut next_since = u64::MAX;
        let mut bits = self.dirty_slices & self.free_slices & !old;
        while bits != 0 {
            next_since = next_since.min(self.dirty_at[bits.trailing_zeros() as usize]);
            bits &= bits - 1;
        }
        // Runs the kernel refused stay dirty and are tried again at the next look.
        if self.dirty_slices == 0 {
            self.purge_at = 0;
        } else if self.dirty_slices & old != 0 || next_since == u64::MAX {
            // Something was refused: look again after another delay.
            self.purge_at = self.purge_at.max(1) + options::get(Opt::PurgeDelayMs).max(1) as u64;
        } else {
            self.purge_at = (next_since + options::get(Opt::PurgeDelayMs) as u64).max(1);
        }
        bytes
    }

    /// Once the earliest deadline, lengthened by `extra` ms (an owner whose purges were faulted
    /// back soon waits longer: see `purge::PurgeDelay`), has passed: in a big arena's segment,
    /// decommits the slices dirty for at least `SACS_PURGE_DELAY_MS` + `extra` (spans freed a
    /// moment ago stay committed for the next big block); in a heap segment, every dirty slice
    /// (they come from pages that already waited out the delay in the warm pool). Every dirty
    /// slice with `force`. One madvise per contiguous run; `purge_at` moves to the next
    /// slice's deadline. Returns bytes given back. The slices leave the free ones while the
    /// system calls run ([`reserve_purge_after`](Self::reserve_purge_after)), so the shared
    /// look for idle heaps ([`idle`]) may hold the slice state meanwhile.
    ///
    /// # Safety
    /// - `seg` is a live segment that no one else carves from meanwhile: a thread's own, or one
    ///   off every shared list (a shared one goes through
    ///   [`reserve_purge`](Self::reserve_purge) under its lock).
    pub unsafe fn purge_if_due_after(
        seg: *mut Segment,
        now: u64,
        force: bool,
        extra: u64,
    ) -> usize {
        // SAFETY: per the contract `seg` is live; each call holds its slice state throughout.
        unsafe {
            let old = (*seg).reserve_purge_after(now, force, extra);
            if old == 0 {
                return 0;
            }
            let done = decommit_runs(seg, old);
            (*seg).finish_purge(old, done)
        }
    }

    /// When (ms) a look next finds dirty slices due (`u64::MAX`: none is dirty).
    pub fn purge_due(&self) -> u64 {
        let _held = self.hold();
        if self.dirty_slices == 0 || self.purge_at == 0 {
            u64::MAX
        } else {
            self.purge_at
        }
    }

    /// Since when (ms) the longest-dirty free slice has been dirty (`u64::MAX`: none is dirty).
    pub fn oldest_dirty(&self) -> u64 {
        let _held = self.hold();
        let mut dirty = self.dirty_slices;
        let mut oldest = u64::MAX;
        while dirty != 0 {
            let i = dirty.trailing_zeros() as usize;
            oldest = oldest.min(self.dirty_at[i]);
            dirty &= dirty - 1;
        }
        oldest
    }

    /// When (ms) the most recently decommitted of the free slices was decommitted (0: none is
    /// decommitted, or none ever was).
    pub fn last_decommit(&self) -> u64 {
        let _held = self.hold();
        let mut clean = self.free_slices & !self.dirty_slices;
        let mut latest = 0;
        while clean != 0 {
            let i = clean.trailing_zeros() as usize;
            latest = latest.max(self.dirty_at[i]);
            clean &= clean - 1;
        }
        latest
    }

    /// Whether [`purge_if_due_after`](Self::purge_if_due_after) would look at any slice now.
    pub fn purge_due_after(&self, now: u64, force: bool, extra: u64) -> bool {
        let _held = self.hold();
        self.due_limit(now, force, extra).is_some()
    }

    /// For a purge look at `now`: the time (ms) at or before which dirty slices are decommitted,
    /// or `None` when the look is not due.
    fn due_limit(&self, now: u64, force: bool, extra: u64) -> Option<u64> {
        if self.dirty_slices == 0 {
            None
        } else if force {
            Some(u64::MAX)
        } else if self.purge_at != 0 && now >= self.purge_at.saturating_add(extra) {
            if self.kind == SegmentKind::Arena as u8 {
                let delay = options::get(Opt::PurgeDelayMs) as u64 + extra;
                Some(now.saturating_sub(delay))
            } else {
                Some(u64::MAX)
            }
        } else {
            None
        }
    }

    /// The first half of [`purge_if_due_after`](Self::purge_if_due_after) for a segment that others carve
    /// spans from (a big arena's, under its lock): takes the due dirty runs out of the free
    /// slices, so that no one can carve them and the segment cannot look empty, and returns
    /// them. The caller drops the lock, calls [`decommit_runs`], retakes the lock and calls
    /// [`finish_purge`](Self::finish_purge). Returns 0 when there is nothing to decommit (a look
    /// that found nothing due has moved `purge_at` on).
    pub fn reserve_purge(&mut self, now: u64, force: bool) -> u64 {
        self.reserve_purge_after(now, force, 0)
    }

    /// [`reserve_purge`](Self::reserve_purge) with the owner's `extra` delay (see
    /// [`purge_if_due_after`](Self::purge_if_due_after)), which it also records for the shared
    /// look ([`idle`]).
    pub fn reserve_purge_after(&mut self, now: u64, force: bool, extra: u64) -> u64 {
        let _held = self.hold();
        self.purge_extra = extra;
        let Some(limit) = self.due_limit(now, force, extra) else {
            return 0;
        };
        let old = self.dirty_older(limit);
        if old == 0 {
            self.settle_purge(0, 0);
            return 0;
        }
        self.free_slices &= !old;
        self.dirty_slices &= !old;
        old
    }

    /// The second half of [`reserve_purge`](Self::reserve_purge): gives the reserved runs `old`
    /// back as free slices, clean where the kernel decommitted them (`done`), dirty where it
    /// refused, with the bookkeeping of [`purge_if_due_after`](Self::purge_if_due_after). Returns bytes
    /// given back.
    ///
    /// # Safety
    /// - `old` was returned by `reserve_purge` on this segment and is not finished yet, and
    ///   `done` is what [`decommit_runs`] returned for it.
    pub unsafe fn finish_purge(&mut self, old: u64, done: u64) -> usize {
        let _held = self.hold();
        debug_assert_eq!(self.free_slices & old, 0, "reserved runs were carved");
        self.free_slices |= old;
        self.dirty_slices |= old;
        self.settle_purge(old, done)
    }
}

/// Decommits the slices `mask` of the segment at `seg`, one madvise per contiguous run, without
/// reading or writing its header (it may be locked by others meanwhile). Returns the slices the
/// kernel decommitted; counts the runs.
///
/// # Safety
/// - `seg` is a live segment, and no one uses the contents of the slices in `mask` or takes
///   them as a span until the caller gives them back.
pub unsafe fn decommit_runs(seg: *mut Segment, mask: u64) -> u64 {
    // SAFETY: the caller's contract, for the segment's slices.
    unsafe { decommit_unit_runs(seg as *mut u8, SLICE, mask as u128) as u64 }
}

/// Decommits the units `mask` (bit `k`: the `unit` bytes at `base + k * unit`), one madvise per
/// contiguous run of set bits. Returns the units the kernel decommitted; counts the runs. The
/// segment's slices ([`decommit_runs`]) and the system pages of a page's holes
/// (`small::retire::punch_idle`) are given back with it.
///
/// # Safety
/// - every unit in `mask` lies in a live mapping of SACS and no one uses its contents.
pub unsafe fn decommit_unit_runs(base: *mut u8, unit: usize, mask: u128) -> u128 {
    let mut done = 0;
    let mut rest = mask;
    while rest != 0 {
        let start = rest.trailing_zeros() as usize;
        let len = (!(rest >> start)).trailing_zeros() as usize;
        let run = (u128::MAX >> (128 - len)) << start;
        // SAFETY: the caller guarantees the run is inside a live mapping and unused.
        if unsafe { platform::decommit(base.wrapping_add(start * unit), len * unit) } {
            GLOBAL.purged_runs.add(1);
            done |= run;
        }
        rest &= !run;
    }
    done
}

/// Mask of `n` bits starting at `start`.
#[inline]
fn run_mask(start: usize, n: usize) -> u64 {
    (if n >= 64 { !0u64 } else { (1u64 << n) - 1 }) << start
}

/// Start of the lowest run of `n` set bits in `bits`.
fn first_run(bits: u64, n: usize) -> Option<usize> {
    // After folding, bit i of `m` is set iff bits i .. i + n are all set.
    let mut m = bits;
    let mut have = 1;
    while have < n {
        let step = have.min(n - have);
        m &= m >> step;
        have += step;
    }
    if m == 0 {
        None
    } else {
        Some(m.trailing_zeros() as usize)
    }
}

/// Maps a new segment and initialises its header for `kind`: a slot of the segment space, or a
/// mapping of its own when the space has none.
pub fn map_new(kind: SegmentKind) -> Option<*mut Segment> {
    let base = match segment_space::take() {
        Some(base) => base,
        None => platform::map_aligned(SEGMENT, SEGMENT)?.as_ptr(),
    };
    if !segment_map::covers(base as usize) {
        // Above the range the map covers (an address the kernel only gives out when asked):
        // a segment `free` could not recognise is not used.
        // SAFETY: the mapping was just made and nothing refers to it.
        unsafe { platform::unmap(base, SEGMENT) };
        return None;
    }
    GLOBAL.mapped(SEGMENT);
    // Only the header slice counts as committed until spans are taken.
    GLOBAL.decommitted(SEGMENT - SLICE);
    GLOBAL.segments_mapped.add(1);
    let seg = base as *mut Segment;
    // SAFETY: fresh zeroed memory of SEGMENT bytes, aligned; the all-zero header is valid except
    // for the fields set here (the Page entries are all-zero = `Page::zeroed`).
    unsafe {
        (*seg).kind = kind as u8;
        (*seg).free_slices = ALL_FREE;
        // Every slice is in no span: the header's never-used entry, as `span_page` says.
        segment_space::set_pages(base as usize, 0, SLICES, (*seg).pages.as_mut_ptr());
    }
    segment_map::insert(base as usize);
    // The header is set up: the shared look for idle heaps may read it from now on.
    segment_space::set_live(base as usize, true);
    Some(seg)
}

/// Unmaps an empty segment.
///
/// # Safety
/// - `seg` is an empty segment on no list, and nothing refers to it.
#[inline(never)]
#[link_section = ".sacs_rare"]
pub unsafe fn unmap(seg: *mut Segment) {
    // SAFETY: per the contract the segment is ours and unused.
    unsafe {
        debug_assert!((*seg).is_empty());
        // Out of the shared look's walk first (it may be reading the header: this waits).
        segment_space::set_live(seg as usize, false);
        let dirty = (*seg).slice_bits().1.count_ones() as usize;
        segment_map::remove(seg as usize);
        // The header slice and the dirty slices were counted as committed.
        GLOBAL.unmapped(SEGMENT, (dirty + 1) * SLICE);
        GLOBAL.segments_unmapped.add(1);
        if segment_space::holds(seg as usize) {
            segment_space::give(seg as *mut u8);
        } else {
            platform::unmap(seg as *mut u8, SEGMENT);
        }
    }
}

crate::list::linked_by_fields!(Segment);

/// A list of segments (see [`crate::list`]).
pub type SegmentList = crate::list::List<Segment>;

pub mod cache;
pub mod idle;

#[cfg(test)]
mod tests;
