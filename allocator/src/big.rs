//! BigCache: requests above 32 KiB and below 2 MiB (classes 80 – 127).
//!
//! A big block is a span of 64 KiB slices in a segment owned by one of [`ARENAS`] big arenas;
//! a thread uses the arena its heap index picks, and a free goes to the arena that owns the
//! block, so threads spread over arenas and a cross-thread free takes one arena lock, never a
//! global one. Each arena keeps the blocks freed to it in a cache, one list per class, newest
//! first, and applies the Hot / Warm / Cold policy to them:
//!
//! - **hot**: freed less than `SACS_HOT_MS` ago; committed, reused at no cost;
//! - **warm**: older; released with `MADV_FREE` (the kernel takes the pages only under memory
//!   pressure, and reuse costs nothing when it has not);
//! - **cold**: older than `SACS_WARM_MS`, or beyond `SACS_BIG_CACHE_MIB`; decommitted and its
//!   slices given back to the segment, which goes to the segment cache once empty.
//!
//! With Site Rules on, a block carries its call site's policy (`site::big`): a `ONE_SHOT`
//! block (its site asks again only after the warm period) is decommitted at its free instead of
//! cached, and a `KEEP` block (its site asks again sooner) skips the warm step.
//!
//! A request that misses the cache takes a span from the arena's free slices, dirty (committed)
//! runs first so that reusing them costs no page fault. When no run fits, the oldest cached
//! blocks give their spans back to their segments still committed (no system call) until one
//! does: the memory of a freed block of one size serves the next block of another, and the
//! segment decommits it only once it has stayed unused for `SACS_PURGE_DELAY_MS`.
//!
//! A fresh or decommitted span is known to be zero, so `calloc` skips the memset for it.
//!
//! A request that finds no block of its class in its own arena's cache takes the newest one
//! another arena cached, if one whose lock is free has it, before carving.
//!
//! In front of the arenas, each thread keeps a few blocks it freed ([`local`]), of up to
//! 256 KiB. A block that `realloc` grows keeps its place when the slices after it are free
//! ([`grow`]).

mod chores;
mod grow;
mod local;

pub use grow::grow_in_place;
pub use local::{flush_idle, holders_lock_for_fork, zeroed, LocalCache};

use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use arrayvec::ArrayVec;

use chores::{finish, Chores};

use crate::lock::{Guard, Lock, Spin};
use crate::options::{self, Opt};
use crate::page::{Page, PageKind, PageList, KEEP, LOCAL, ONE_SHOT, SITE_FLAGS, WARM, ZERO};
use crate::platform;
use crate::purge::{self, BigDelays};
use crate::segment::{self, Segment, SegmentKind, SegmentList, SLICE};
use crate::size_class::{class_size, BIG_FIRST, CLASSES};
use crate::stats::{Tier, GLOBAL};

/// Number of big arenas.
pub const ARENAS: usize = 4;
/// Number of big classes.
const BIG_CLASSES: usize = CLASSES - BIG_FIRST;

/// One big arena: its segments and its cache of freed blocks.
pub struct Arena {
    /// Its place in [`ARENA_LOCKS`] and [`DUE`] (a test's own arena: `ARENAS`).
    index: usize,
    segments: SegmentList,
    cache: [PageList; BIG_CLASSES],
    cached_bytes: usize,
    /// When (ms) the arena's pass next has something to do: the earliest warm step, cooling or
    /// dirty-slice deadline of what it holds (`u64::MAX`: it holds nothing); mirrored in
    /// [`DUE`] ([`Arena::set_due`]).
    next_purge: u64,
    /// When (ms) its last pass ran: the next one comes no sooner than [`Arena::pass_gap`] after.
    passed_at: u64,
    /// How long a cached block waits before its warm step and before it is decommitted
    /// (`SACS_HOT_MS`, `SACS_WARM_MS`, stretched while the arena takes back what it released).
    delays: BigDelays,
}

// SAFETY: an arena is only reached through its lock.
unsafe impl Send for Arena {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_LIST: PageList = PageList::new();

/// A new, empty arena at place `index`.
const fn new_arena(index: usize) -> Arena {
    Arena {
        index,
        segments: SegmentList::new(),
        cache: [EMPTY_LIST; BIG_CLASSES],
        cached_bytes: 0,
        next_purge: u64::MAX,
        passed_at: 0,
        delays: BigDelays::new(),
    }
}

/// The big arenas.
pub static ARENA_LOCKS: [Lock<Arena>; ARENAS] = [
    Lock::new(new_arena(0)),
    Lock::new(new_arena(1)),
    Lock::new(new_arena(2)),
    Lock::new(new_arena(3)),
];

/// Each arena's `next_purge`, readable without its lock, all in one cache line: the shared
/// purge look passes over an arena whose pass is not due without touching its lock or its
/// lists. Why: a look that took every arena's lock and walked its 48 class lists every 10 ms
/// read lines that other threads had written; a worker of `workload pool`, waking every 640 ms
/// to a job, paid them cold at its first `malloc` (8,700 – 10,900 cycles by a count around
/// each part of the look), though nothing there was due for another 60 ms. The lines its own
/// `malloc` reads next are paid there instead, so the first `malloc` after a wake gained about
/// 1 µs (10.6 against 11.8, `bench-harness/c/pool_by_part.c`; benchmarks.md).
#[repr(C, align(64))]
struct Due([AtomicU64; ARENAS]);

static DUE: Due = Due([const { AtomicU64::new(u64::MAX) }; ARENAS]);

/// When (ms) a block freed at `since` takes its warm step: `hot` ms after its free, not
/// counting the pause the looks last found ([`purge::paused_within`]). A program that idles
/// between short jobs finds the blocks of its last job where it left them, and warms those
/// its next job leaves unused after running for the hot delay (architecture.md, "Hot after a
/// pause").
fn warm_step(since: u64, hot: u64) -> u64 {
    since
        .saturating_add(hot)
        .saturating_add(purge::paused_within(since))
}

/// Slices a block of `class` spans.
#[inline]
fn slices_for(class: usize) -> usize {
    class_size(class).div_ceil(SLICE)
}

/// Allocates a block of big class `class` from arena `arena`; zeroed if `zero`.
pub fn alloc(class: usize, zero: bool, arena: usize) -> *mut u8 {
    debug_assert!((BIG_FIRST..CLASSES).contains(&class));
    let now = platform::now_ms();
    let index = arena % ARENAS;
    let mut chores = Chores::new();
    let mut a = ARENA_LOCKS[index].lock();
    if now >= a.next_purge {
        a.purge(now, false, &mut chores);
    }
    let size = class_size(class);
    let mut page = match a.take_cached(class, now) {
        Some(page) => {
            GLOBAL.big_cache_hits.add(1);
            Some(page)
        }
        None => {
            if let Some(start) = take_from_other_arena(index, class, now) {
                // Used under the other arena's lock, which owns the block's segment: its free
                // goes back there.
                drop(a);
                GLOBAL.big_cache_hits.add(1);
                GLOBAL.big_cache_from_other_arena.add(1);
                finish(index, &mut chores, now);
                // A cached block is never known zero (its free cleared the mark).
                return hand_out(start, size, zero, false);
            }
            GLOBAL.big_cache_misses.add(1);
            a.carve(class, now)
        }
    };
    if page.is_none() {
        // No run fits in the arena's segments: add one, from the segment cache or the system,
        // found with the lock dropped (mapping is a system call).
        drop(a);
        let seg = segment::cache::take(SegmentKind::Arena, now)
            .or_else(|| segment::map_new(SegmentKind::Arena));
        a = ARENA_LOCKS[index].lock();
        if let Some(seg) = seg {
            // SAFETY: an empty segment, ours alone until it joins the arena here.
            unsafe {
                (*seg).arena = index as u8;
                a.segments.push_front(seg);
                // A segment the arena's coolings just emptied, back from the cache: a refault.
                if let Some((span, purged)) = (*seg).take_span_purged(slices_for(class)) {
                    a.delays.note_carved(purged, now, slices_for(class) * SLICE);
                    page = Some(init_span(span, class));
                }
            }
        }
    }
    let Some(page) = page else {
        drop(a);
        finish(index, &mut chores, now);
        return ptr::null_mut();
    };
    // SAFETY: the page is a span of this arena, not in use, guarded by the arena lock.
    let (start, is_zero) = unsafe { (mark_used(page), (*page).flags & ZERO != 0) };
    drop(a);
    finish(index, &mut chores, now);
    hand_out(start, size, zero, is_zero)
}

/// Marks the free span `page` in use as a block of its class; returns its start.
///
/// # Safety
/// - `page` is a span of an arena whose lock the caller holds, not in use.
unsafe fn mark_used(page: *mut Page) -> *mut u8 {
    // SAFETY: per the contract.
    unsafe {
        let p = &mut *page;
        p.set_used(1);
        // A `malloc` of a Site Rules entry marks the block again (`site::big`).
        p.flags &= !(WARM | SITE_FLAGS);
        p.start
    }
}

/// Counts the new block of `size` bytes at `start` and zeroes it if asked and not known zero.
fn hand_out(start: *mut u8, size: usize, zero: bool, is_zero: bool) -> *mut u8 {
    GLOBAL.tier_allocs[Tier::Big as usize].add(1);
    GLOBAL.tier_bytes[Tier::Big as usize].add(size as u64);
    if zero && !is_zero {
        // SAFETY: the block was just handed to the caller and is `size` bytes long.
        unsafe { ptr::write_bytes(start, 0, size) };
    }
    start
}

/// On a miss in arena `index`: the newest cached block of `class` in another arena whose lock
/// is free, marked in use under that lock. Returns its start (zeroing is the caller's, as for
/// a hit).
///
/// Why: a thread uses the arena its heap index picks, so when threads take turns (a pool's
/// workers, one job at a time) each arena caches the blocks of the jobs that ran on it, and a
/// job finds its own arena's blocks of the size it needs gone cold while another arena holds
/// them hot: a fresh span, faulted in, beside committed memory nobody uses. A look at the other
/// arenas, never waiting for their locks (the caller holds its own), takes that memory instead.
fn take_from_other_arena(index: usize, class: usize, now: u64) -> Option<*mut u8> {
    for step in 1..ARENAS {
        let other = (index + step) % ARENAS;
        let Some(mut b) = ARENA_LOCKS[other].try_lock() else {
            continue;
        };
        if let Some(page) = b.take_cached(class, now) {
            // SAFETY: a span of that arena, not in use, guarded by its lock.
            return Some(unsafe { mark_used(page) });
        }
    }
    None
}

/// Frees the big block at `p` (a span head of an arena segment) to its arena. Returns false if
/// the block is not in use (a double free), leaving the heap untouched.
///
/// # Safety
/// - `page` is the page entry of `p`, and `p` is its start.
pub unsafe fn free(page: *mut Page, p: *mut u8) -> bool {
    // SAFETY: the caller's contract: `page` is a big span's entry (its class is read before
    // the block may be handed to another thread).
    let size = class_size(unsafe { (*page).class } as usize);
    // SAFETY: the caller's contract. Freed now: `release` reads the clock.
    let ok = unsafe { release(page, p, u64::MAX) };
    if ok {
        GLOBAL.tier_frees[Tier::Big as usize].add(1);
        GLOBAL.tier_bytes[Tier::Big as usize].sub(size as u64);
    }
    ok
}

/// [`free`] without counting (for blocks counted when a thread cache took them). `since` is
/// when the block was freed by its program (its age in the cache counts from there; at most
/// now, so `u64::MAX` says "now" without a second reading of the clock).
///
/// # Safety
/// - as for [`free`].
unsafe fn release(page: *mut Page, p: *mut u8, since: u64) -> bool {
    let seg = Segment::of(p);
    // SAFETY: `p` lies in a live arena segment.
    let arena = unsafe { (*seg).arena as usize };
    let now = platform::now_ms();
    let mut chores = Chores::new();
    let mut a = ARENA_LOCKS[arena].lock();
    // SAFETY: the page belongs to this arena; the lock guards it.
    unsafe {
        let pg = &mut *page;
        if pg.used() != 1 || pg.kind != PageKind::Big as u8 || pg.flags & LOCAL != 0 {
            return false;
        }
        pg.set_used(0);
        pg.since = since.min(now);
        if pg.flags & ONE_SHOT != 0 {
            // Its site asks again only after it would have gone cold (`site::big`): decommit
            // it now, with the arena's other chores.
            pg.flags &= !(ZERO | WARM | SITE_FLAGS);
            chores.cool.push_back(page);
            GLOBAL.site_big_released.add(1);
        } else {
            pg.flags &= !(ZERO | WARM);
            let class = pg.class as usize;
            // Newest first: a block handed back late by a thread cache goes behind younger ones.
            let list = &mut a.cache[class - BIG_FIRST];
            if list.head.is_null() || (*list.head).since <= pg.since {
                list.push_front(page);
            } else {
                list.push_back(page);
            }
            a.count_cached(class_size(class));
            // Its warm step, without the pause it may not count: a pass too early only
            // recomputes the arena's due time (`recompute_due`).
            let due = pg.since.saturating_add(a.delays.hot());
            a.lower_due(due);
        }
    }
    purge::note_deferred();
    let cap = options::get(Opt::BigCacheMib).saturating_mul(1 << 20);
    while a.cached_bytes > cap {
        if !a.evict_oldest(&mut chores) {
            break;
        }
    }
    // A block that comes in cold already (a thread's cache hands back what it kept through a
    // long pause) goes cold now, not at the arena's next pass, which may be the next pause's end.
    let cold = purge::aged(since, now, a.delays.cold(), false);
    if now >= a.next_purge || cold {
        a.purge(now, false, &mut chores);
    }
    drop(a);
    finish(arena, &mut chores, now);
    true
}

/// Initialises a new span of an arena segment for a block of `class`.
///
/// # Safety
/// - `page` is a span just taken from a segment of an arena whose lock the caller holds.
unsafe fn init_span(page: *mut Page, class: usize) -> *mut Page {
    // SAFETY: per the contract.
    unsafe {
        let p = &mut *page;
        p.init(PageKind::Big, class, p.start, slices_for(class) * SLICE, 0);
    }
    page
}

impl Arena {
    /// The newest cached block of `class`, taken off the cache (not yet marked in use). A block
    /// taken back soon after its warm step stretches the hot delay.
    fn take_cached(&mut self, class: usize, now: u64) -> Option<*mut Page> {
        let page = self.cache[class - BIG_FIRST].pop_front()?;
        let size = class_size(class);
        self.uncount_cached(size);
        // SAFETY: a cached block of this arena, under its lock.
        let (flags, since) = unsafe { ((*page).flags, (*page).since) };
        if flags & WARM != 0 {
            // Its warm step came about a hot delay after its free.
            let warmed = since.saturating_add(self.delays.hot()).min(now).max(1);
            self.delays.note_warm_hit(warmed, now, size);
        }
        Some(page)
    }

    /// Counts `bytes` more of cached blocks, in the arena and in the statistics.
    fn count_cached(&mut self, bytes: usize) {
        self.cached_bytes += bytes;
        GLOBAL.big_cache_bytes.fetch_add(bytes, Relaxed);
    }

    /// Counts `bytes` fewer of cached blocks, in the arena and in the statistics.
    fn uncount_cached(&mut self, bytes: usize) {
        self.cached_bytes -= bytes;
        GLOBAL.big_cache_bytes.fetch_sub(bytes, Relaxed);
    }

    /// Whether the arena holds memory that a later look may purge.
    fn holds_any(&self) -> bool {
        if self.cached_bytes != 0 {
            return true;
        }
        let mut seg = self.segments.head;
        while !seg.is_null() {
            // SAFETY: the arena's segments are valid while we hold its lock.
            unsafe {
                if (*seg).has_dirty() {
                    return true;
                }
                seg = (*seg).next;
            }
        }
        false
    }

    /// Carves a new span for `class` from the arena's segments, giving cached blocks back to
    /// them when needed. `None` when no run fits: the caller adds a segment. Memory the arena
    /// decommitted a moment ago, carved again, stretches its cold delay.
    fn carve(&mut self, class: usize, now: u64) -> Option<*mut Page> {
        let n = slices_for(class);
        // Cached blocks of other classes may be what fragments the segments: give the oldest
        // back to their segments, still committed, one at a time, until a run of `n` slices
        // appears. Their memory then serves this block with no page fault. Only the segment a
        // block went back to changed, so only it is looked at again.
        let mut taken = self.take_span(n);
        while taken.is_none() {
            // SAFETY: a segment of the arena, valid while we hold its lock.
            let s = unsafe { &mut *self.uncache_oldest()? };
            taken = s
                .take_dirty_span(n)
                .map(|p| (p, 0))
                .or_else(|| s.take_span_purged(n));
        }
        let (page, purged) = taken?;
        self.delays.note_carved(purged, now, n * SLICE);
        // SAFETY: a new span of our segment, under the arena lock.
        Some(unsafe { init_span(page, class) })
    }

    /// First fit over the arena's segments: a run of committed (dirty) slices if there is one,
    /// else any free run, with when its latest decommitted slice was decommitted (0: none).
    fn take_span(&mut self, n: usize) -> Option<(*mut Page, u64)> {
        for dirty_only in [true, false] {
            let mut seg = self.segments.head;
            while !seg.is_null() {
                // SAFETY: the arena's segments are valid while we hold its lock.
                unsafe {
                    let s = &mut *seg;
                    let taken = if dirty_only {
                        s.take_dirty_span(n).map(|page| (page, 0))
                    } else {
                        s.take_span_purged(n)
                    };
                    if taken.is_some() {
                        return taken;
                    }
                    seg = s.next;
                }
            }
        }
        None
    }

    /// The class list holding the oldest cached block, if any block is cached.
    fn oldest_list(&self) -> Option<usize> {
        let mut oldest: Option<usize> = None;
        for (i, list) in self.cache.iter().enumerate() {
            if !list.tail.is_null() {
                // SAFETY: cached pages are valid while we hold the arena lock.
                let age = unsafe { (*list.tail).since };
                // SAFETY: as above.
                if oldest.is_none_or(|o| age < unsafe { (*self.cache[o].tail).since }) {
                    oldest = Some(i);
                }
            }
        }
        oldest
    }

    /// Takes the oldest cached block (over all classes) off the cache to go cold (in
    /// `chores`). Returns false if none is cached.
    fn evict_oldest(&mut self, chores: &mut Chores) -> bool {
        let Some(i) = self.oldest_list() else {
            return false;
        };
        let page = self.cache[i].pop_back().expect("non-empty list");
        self.cool(page, chores);
        true
    }

    /// Gives the oldest cached block's span back to its segment without decommitting it (dirty
    /// since the block was freed). Returns that segment, or `None` if no block is cached.
    fn uncache_oldest(&mut self) -> Option<*mut Segment> {
        let i = self.oldest_list()?;
        let page = self.cache[i].pop_back().expect("non-empty list");
        // SAFETY: `page` is a cached block of this arena, just taken off its list.
        unsafe { Some(self.uncache(page)) }
    }

    /// Gives the span of `page`, a block just taken off the cache, back to its segment still
    /// committed (dirty since the block was freed), and returns the segment.
    ///
    /// # Safety
    /// - `page` is a cached block of this arena, off its list, under the arena's lock.
    unsafe fn uncache(&mut self, page: *mut Page) -> *mut Segment {
        GLOBAL.big_cache_uncached.add(1);
        // SAFETY: per the contract.
        unsafe {
            let p = &mut *page;
            self.uncount_cached(class_size(p.class as usize));
            let (since, seg) = (p.since, Segment::of(p.start));
            (*seg).give_span(page, true, since);
            self.lower_due((*seg).purge_due());
            seg
        }
    }

    /// Takes out of the arena one segment in which every block is a cached one: gives those
    /// blocks back to it still committed (no system call) and returns it, empty. `None` when
    /// every segment holds a block in use (or one in the middle of a purge).
    fn empty_idle_segment(&mut self) -> Option<*mut Segment> {
        // The arena's first segments (a bounded look) and the slices of their cached blocks.
        const LOOK: usize = 16;
        let mut idle: ArrayVec<(*mut Segment, u32), LOOK> = ArrayVec::new_const();
        let mut seg = self.segments.head;
        while !seg.is_null() && !idle.is_full() {
            idle.push((seg, 0));
            // SAFETY: the arena's segments are valid while we hold its lock.
            seg = unsafe { (*seg).next };
        }
        for list in self.cache.iter() {
            let mut page = list.head;
            while !page.is_null() {
                // SAFETY: cached pages are valid while we hold the arena lock.
                let (seg, slices, next) =
                    unsafe { (Segment::of((*page).start), (*page).slices, (*page).next) };
                if let Some(entry) = idle.iter_mut().find(|(s, _)| *s == seg) {
                    entry.1 += slices as u32;
                }
                page = next;
            }
        }
        let (seg, _) = idle.into_iter().find(|&(seg, cached)| {
            // SAFETY: as above.
            let taken = (segment::ALL_FREE & !unsafe { (*seg).slice_bits().0 }).count_ones();
            cached > 0 && cached == taken
        })?;
        for i in 0..BIG_CLASSES {
            let mut page = self.cache[i].head;
            while !page.is_null() {
                // SAFETY: as above; a block of `seg` leaves the list before its span goes back.
                unsafe {
                    let next = (*page).next;
                    if Segment::of((*page).start) == seg {
                        self.cache[i].remove(page);
                        self.uncache(page);
                    }
                    page = next;
                }
            }
        }
        // SAFETY: as above.
        debug_assert!(unsafe { (*seg).is_empty() });
        // SAFETY: `seg` is one of the arena's segments.
        unsafe { self.segments.remove(seg) };
        Some(seg)
    }

    /// Sends a cached block, just taken off its list, to be decommitted and given back to its
    /// segment after the lock ([`finish`]).
    fn cool(&mut self, page: *mut Page, chores: &mut Chores) {
        // SAFETY: `page` is a cached block of this arena, just taken off its list.
        unsafe {
            self.uncount_cached(class_size((*page).class as usize));
            chores.cool.push_back(page);
        }
    }

    /// Applies the Hot / Warm / Cold policy to the cache (everything goes cold with `force`)
    /// and decommits segments' dirty slices that are due: decides under the lock, puts the
    /// system calls in `chores` for [`finish`].
    fn purge(&mut self, now: u64, force: bool, chores: &mut Chores) {
        let hot = self.delays.hot();
        let warm = self.delays.cold();
        GLOBAL.big_arena_passes.add(1);
        self.passed_at = now;
        // The hot delay counts the time the program ran; the cold one keeps counting a pause.
        purge::note_look(now);
        let (mut warmed, mut cooled) = (0, 0);
        for i in 0..BIG_CLASSES {
            // Oldest first: from the tail toward the head, until a block is still hot.
            let mut warming = PageList::new();
            let mut page = self.cache[i].tail;
            while !page.is_null() {
                // SAFETY: cached pages are valid while we hold the arena lock.
                let (since, prev, flags) = unsafe { ((*page).since, (*page).prev, (*page).flags) };
                if purge::aged(since, now, warm, force) {
                    // SAFETY: `page` is on this list.
                    unsafe { self.cache[i].remove(page) };
                    self.cool(page, chores);
                    cooled += class_size(BIG_FIRST + i);
                } else if now >= warm_step(since, hot) {
                    // A block of a site that reuses before cold (`KEEP`) skips the warm step.
                    if flags & (WARM | KEEP) == 0 {
                        // Off the list while MADV_FREE runs, so no one takes it and writes.
                        // SAFETY: `page` is on this list; then on none until pushed.
                        unsafe {
                            self.cache[i].remove(page);
                            warming.push_front(page);
                        }
                        self.uncount_cached(class_size(BIG_FIRST + i));
                        warmed += class_size(BIG_FIRST + i);
                    }
                } else {
                    break;
                }
                page = prev;
            }
            while let Some(page) = warming.pop_front() {
                // SAFETY: just taken off `warming`.
                unsafe { chores.warm.push_back(page) };
            }
        }
        let mut seg = self.segments.head;
        while !seg.is_null() {
            // SAFETY: the arena's segments are valid while we hold its lock.
            unsafe {
                let next = (*seg).next;
                if !chores.runs.is_full() {
                    let runs = (*seg).reserve_purge(now, force);
                    if runs != 0 {
                        chores.runs.push((seg, runs));
                    }
                }
                // A segment emptied by `uncache_oldest` goes to the segment cache once clean.
                if (*seg).is_empty() && !(*seg).has_dirty() {
                    self.segments.remove(seg);
                    chores.empty.push_back(seg);
                }
                seg = next;
            }
        }
        if !force {
            self.delays.judge(now, warmed, cooled);
        }
        self.recompute_due(now);
    }

    /// Sets when the arena's pass next has work, here and in [`DUE`] (an arena of a test,
    /// outside [`ARENA_LOCKS`], has no place there).
    fn set_due(&mut self, at: u64) {
        self.next_purge = at;
        if let Some(due) = DUE.0.get(self.index) {
            if due.load(Relaxed) != at {
                due.store(at, Relaxed);
            }
        }
    }

    /// Brings the pass forward to `at` if that is sooner (something just entered the arena),
    /// but no sooner than [`Arena::pass_gap`] after the last pass.
    fn lower_due(&mut self, at: u64) {
        if at < self.next_purge {
            let at = at.max(self.passed_at + self.pass_gap()).max(1);
            if at < self.next_purge {
                self.set_due(at);
            }
        }
    }

    /// The shortest time (ms) between two passes: half the hot delay, at most the purge delay
    /// (the pace the passes kept when they ran at every look). A span given back dirty when a
    /// carve makes room carries its block's free time, so its slices are often due at once;
    /// passing at once decommitted what the next carves would have taken back
    /// (`workload realloc-growth`: 101 MiB purged a run against 52, 13,000 more faults).
    fn pass_gap(&self) -> u64 {
        let (hot, cold) = (self.delays.hot(), self.delays.cold());
        let delay = (options::get(Opt::PurgeDelayMs) as u64).max(1);
        (hot.min(cold) / 2).clamp(1, delay)
    }

    /// Sets when the pass next has work from what the arena holds: the warm step of the oldest
    /// block of each class not yet warm ([`warm_step`]), the cooling of each class's oldest
    /// block, and the dirty-slice deadline of each segment; at least 1 ms from `now` and
    /// [`Arena::pass_gap`] from the last pass, and never if the arena holds nothing.
    fn recompute_due(&mut self, now: u64) {
        let (hot, cold) = (self.delays.hot(), self.delays.cold());
        let mut due = u64::MAX;
        for list in &self.cache {
            // Oldest first, as the pass walks them: warm blocks wait for their cooling only.
            let mut page = list.tail;
            while !page.is_null() {
                // SAFETY: cached pages are valid while we hold the arena lock.
                let (since, prev, flags) = unsafe { ((*page).since, (*page).prev, (*page).flags) };
                due = due.min(since.saturating_add(cold));
                if flags & (WARM | KEEP) == 0 {
                    due = due.min(warm_step(since, hot));
                    break;
                }
                page = prev;
            }
        }
        let mut seg = self.segments.head;
        while !seg.is_null() {
            // SAFETY: the arena's segments are valid while we hold its lock.
            unsafe {
                due = due.min((*seg).purge_due());
                seg = (*seg).next;
            }
        }
        self.set_due(if due == u64::MAX {
            due
        } else {
            due.max(self.passed_at + self.pass_gap()).max(now + 1)
        });
    }
}

/// Purges every arena whose lock is free (all of them, waiting, with `force`). Returns whether
/// an arena still holds memory to purge later (cached blocks or dirty slices), or could not be
/// looked at.
#[inline(never)]
pub fn purge_all(now: u64, force: bool) -> bool {
    let mut left = false;
    for (index, lock) in ARENA_LOCKS.iter().enumerate() {
        let due = DUE.0[index].load(Relaxed);
        if !force && now < due {
            // Not due: its lock and lists stay untouched. It holds memory unless it never will.
            left |= due != u64::MAX;
            continue;
        }
        let guard: Option<Guard<'_, Spin, Arena>> = if force {
            Some(lock.lock())
        } else {
            lock.try_lock()
        };
        match guard {
            Some(mut a) => {
                let mut chores = Chores::new();
                if force || now >= a.next_purge {
                    a.purge(now, force, &mut chores);
                }
                left |= a.holds_any();
                drop(a);
                left |= finish(index, &mut chores, now);
            }
            None => left = true,
        }
    }
    left
}

/// For a heap about to map a segment: empties an arena segment whose every block is cached
/// (idle) and puts it in the segment cache, where the heap takes it, so that memory the big
/// tier holds for blocks nobody asked back serves small pages with no page fault and no new
/// mapping (a program whose memory moves from big buffers to small objects does not keep both).
/// Returns whether a segment went to the cache. Arenas whose lock is taken are passed over.
#[cold]
#[inline(never)]
pub fn lend_idle_segment(now: u64) -> bool {
    for lock in ARENA_LOCKS.iter() {
        let Some(seg) = lock.try_lock().and_then(|mut a| a.empty_idle_segment()) else {
            continue;
        };
        GLOBAL.segments_lent.add(1);
        // SAFETY: out of its arena, empty, ours alone; no lock held (the cache may unmap).
        unsafe { segment::cache::put(seg, now) };
        return true;
    }
    false
}

#[cfg(test)]
mod tests;
