//! WARM and COLD: finding a page with a free block when the current page's list is empty.
//!
//! ```text
//! refill_current(slot)      current page: take remote frees, fill its holes, or carve more
//!                            never-used blocks unless other pages of the slot have room
//! refill_new_page(slot)
//!  ├─ partial pages of the class (pages that got blocks back while not current)
//!  ├─ a few full pages that other threads freed into (rotating sweep)
//!  ├─ warm pool: an empty page kept committed ───────── hit
//!  ├─ prefill: carve SACS_PREFILL_PAGES spans at once from the thread's segments
//!  └─ COLD: sweep all full pages, adopt an abandoned segment, reuse a cached one, empty
//!     an idle one of the big arenas (`big::lend_idle_segment`), or map
//! ```
//!
//! The heap calls the two halves with its purge look between them (`heap::refill`), so that
//! the clock is read only when a new page is needed. Everything works on a *slot* (a class and a
//! page set, see [`super`]); a page made for a long-lived slot carries `LONG_LIVED`.

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;

use super::{
    abandon, class_of_slot, count_long_page, long_slot, page_shape, pop, retire, slot_of, Pages,
    SLOTS,
};
use crate::options::{self, Opt};
use crate::page::{Page, PageKind, EMPTY, IN_WARM_POOL, LONG_LIVED, PUNCHED};
use crate::platform;
use crate::segment::{self, SegmentKind, SLICE};
use crate::size_class::{class_size, SMALL_CLASSES};
use crate::stats::GLOBAL;

/// Abandoned segments one COLD path may adopt before it maps a new segment.
const MAX_ADOPT_PER_REFILL: usize = 4;
/// Full pages looked at per refill for blocks freed by other threads.
const SWEEP_PER_REFILL: usize = 4;
/// The COLD path sweeps every full page again once a page was made since the last sweep per
/// this many full pages ([`full_sweep_due`]).
const FULL_PAGES_PER_MADE: usize = 16;
/// Bytes of free blocks a page keeps for its own class when it lends to a smaller one
/// ([`from_larger_class`]): a page's refill carves 4 KiB at a time, so lending never takes
/// the last carve's worth.
const SPARE_KEPT: usize = 4096;

/// Refills the current page of `slot` from its remote frees, its holes or its never-carved
/// blocks and pops a block; returns it with the slot whose page it came from. Before carving,
/// a spare block of a slightly larger class may serve instead ([`from_larger_class`]).
/// Returns null when the page has nothing left (it is then parked with the full pages), when it
/// would have to carve while other pages of the slot have room (it then waits at the back of
/// the partial list: freed blocks are used before never-used ones, so a class does not spread
/// over more memory than it has out), or when there is no current page; the caller goes on to
/// [`refill_new_page`].
///
/// # Safety
/// - `pages` is the calling thread's page set (or the backstop's with its lock held).
pub unsafe fn refill_current(pages: &mut Pages, slot: usize) -> (*mut u8, usize) {
    let page = pages.current[slot];
    if page == EMPTY.ptr() {
        return (ptr::null_mut(), slot);
    }
    // SAFETY: the current page belongs to `pages`.
    let p = unsafe { &mut *page };
    if p.free.is_null() && collect(p) == 0 && !retire::fill_holes(pages, p) {
        // `used` counts the pin: above 1, the page has blocks out. (One with none, whose free
        // blocks a retiring thread un-carved (`retire::trim`), just carves again.)
        if p.can_extend() && p.used() > 1 && !pages.partial[slot].is_empty() {
            // Blocks freed on other pages of the slot come before never-used ones.
            p.held -= 1;
            // SAFETY: the current page is on no list.
            unsafe { pages.partial[slot].push_back(page) };
            pages.set_current(slot, EMPTY.ptr());
            return (ptr::null_mut(), slot);
        }
        if p.can_extend() && p.used() > 1 {
            // SAFETY: `pages` is the calling thread's.
            if let Some(served) = unsafe { from_larger_class(pages, slot) } {
                return served;
            }
        }
        if p.extend() {
            // SAFETY: `page` is current and now has a free block.
            return (unsafe { pop(pages, slot) }, slot);
        }
        // Exhausted: unpin it and park it with the full pages.
        p.held -= 1;
        p.enter_full();
        // SAFETY: the current page is on no list.
        unsafe { pages.full[slot].push_back(page) };
        pages.set_current(slot, EMPTY.ptr());
        return (ptr::null_mut(), slot);
    }
    // SAFETY: `page` is current and now has a free block.
    (unsafe { pop(pages, slot) }, slot)
}

/// A free block of a slightly larger class, for `slot` whose current page has no free block
/// left and would carve never-used ones: returns it with the larger class's slot, or `None`.
///
/// Each class carves up to the most blocks it ever had out at once, so a heap whose size mix
/// moves around (a thread's allocations differing from its predecessor's on a handed-over heap,
/// random sizes) holds the sum of every class's high-water mark, while the larger classes next
/// to it have blocks to spare. One of those serves instead, when
/// - the class is in the ordinary page set (long-lived sets keep to themselves) and
///   `SACS_LARGER_CLASS_SPAN` (at most 8) is not 0;
/// - the larger class is at most that many classes up and at most half again as large;
/// - its blocks are aligned at least as the class's are (sizes are multiples of the same
///   power of two or a larger one), so aligned requests keep their guarantee;
/// - its current page keeps [`SPARE_KEPT`] bytes of free blocks after lending (so a lending
///   class does not run out and carve for it).
///
/// The block stays a block of the larger class: it is freed to its page, and counted there.
///
/// # Safety
/// - `pages` is the calling thread's page set (or the backstop's with its lock held).
unsafe fn from_larger_class(pages: &mut Pages, slot: usize) -> Option<(*mut u8, usize)> {
    let span = options::get(Opt::LargerClassSpan).min(8);
    if slot >= SMALL_CLASSES || span == 0 {
        return None;
    }
    let size = class_size(slot);
    let align = size.trailing_zeros();
    for to in slot + 1..(slot + 1 + span).min(SMALL_CLASSES) {
        let larger = class_size(to);
        if larger > size + size / 2 {
            break;
        }
        let page = pages.current[to];
        // SAFETY: a current page belongs to `pages`; [`EMPTY`] has no free block.
        let q = unsafe { &*page };
        if q.free.is_null() || larger.trailing_zeros() < align {
            continue;
        }
        // Free blocks of a pinned page: carved, not out (`used` counts the pin).
        let spare = (q.extended + 1).saturating_sub(q.used()) as usize * larger;
        if spare < SPARE_KEPT + larger {
            continue;
        }
        GLOBAL.larger_class_blocks.add(1);
        // SAFETY: `page` is the current page of `to` and has a free block.
        return Some((unsafe { pop(pages, to) }, to));
    }
    None
}

/// Finds a page for `slot` with a free block, makes it current and pops a block. Returns null
/// only when the system has no memory.
///
/// # Safety
/// - as for [`refill_current`]; the current page of `slot` is [`EMPTY`].
pub unsafe fn refill_new_page(pages: &mut Pages, slot: usize, now: u64) -> *mut u8 {
    debug_assert!(pages.current[slot] == EMPTY.ptr());
    // SAFETY: every page reached here belongs to `pages`.
    unsafe {
        let page = take_partial(pages, slot, now)
            .or_else(|| sweep_full(pages, slot, SWEEP_PER_REFILL))
            .or_else(|| take_from_ordinary_set(pages, slot, now))
            .or_else(|| new_page(pages, slot, now));
        let Some(page) = page else {
            return ptr::null_mut();
        };
        let p = &mut *page;
        if p.free.is_null() && collect(p) == 0 && !retire::fill_holes(pages, p) {
            p.extend();
        }
        debug_assert!(!p.free.is_null());
        // In use again: the next idle spell may punch it, once marked anew.
        p.flags &= !PUNCHED;
        p.idle_at = 0;
        p.held += 1; // the pin
        pages.set_current(slot, page);
        pop(pages, slot)
    }
}

/// Puts every current page of `pages` back on its slot's lists, unpinned, so that the next
/// allocation of every slot misses the HOT path (see `heap::park::nudge`): a page with no block
/// out is retired to the warm pool (where the purge look finds it), one with room goes to the
/// front of the partial list (the slot's next refill takes it again, without re-labelling: its
/// `since` restarts now), an exhausted one to the full list.
///
/// # Safety
/// - `pages` is the calling thread's page set.
pub unsafe fn put_back_current(pages: &mut Pages, now: u64) {
    for slot in 0..SLOTS {
        let page = pages.current[slot];
        if page == EMPTY.ptr() {
            continue;
        }
        pages.set_current(slot, EMPTY.ptr());
        // SAFETY: a current page belongs to `pages` and is on no list.
        unsafe {
            let p = &mut *page;
            p.held -= 1; // the pin
            collect(p);
            if p.used() == 0 {
                retire::retire_page(pages, page);
            } else if p.has_room() {
                p.since = now;
                pages.partial[slot].push_front(page);
            } else {
                p.enter_full();
                pages.full[slot].push_back(page);
            }
        }
    }
}

/// Takes the blocks other threads freed onto `p`'s free list, counting the collection.
#[inline]
fn collect(p: &mut Page) -> u32 {
    let n = p.collect_remote();
    if n > 0 {
        GLOBAL.remote_collects.add(1);
    }
    n
}

/// A partial page of `slot` with room, if any.
///
/// With Site Rules placing (`relabel_after` set) and this class's long-lived set in use, an
/// ordinary page whose survivors have outlived the short-lived threshold since it was last made
/// current was mispredicted: its blocks are long-lived after all. It is re-labelled, moved to
/// the long-lived set, where long-lived blocks fill its holes, instead of mixing new short-lived
/// blocks in with them.
unsafe fn take_partial(pages: &mut Pages, slot: usize, now: u64) -> Option<*mut Page> {
    let relabel =
        slot < SMALL_CLASSES && pages.placing() && pages.current[long_slot(slot)] != EMPTY.ptr();
    while let Some(page) = pages.partial[slot].pop_front() {
        // SAFETY: partial pages belong to `pages`.
        let p = unsafe { &mut *page };
        if relabel && now.saturating_sub(p.since) >= pages.relabel_after {
            relabel_page(p, now);
            // SAFETY: the page was just unlinked.
            unsafe { pages.partial[slot_of(p)].push_back(page) };
            continue;
        }
        // A page with free blocks is taken as it is: its remote frees are collected when its
        // list runs out (`refill_current`), so that taking it does not read the remote-free
        // cache line, which a program with one thread never writes.
        if p.free.is_null() {
            collect(p);
        }
        if p.has_room() {
            p.since = now;
            return Some(page);
        }
        p.enter_full();
        // SAFETY: the page was just unlinked.
        unsafe { pages.full[slot].push_back(page) };
    }
    None
}

/// Moves `p` (on no list) to the other page set of its class, for the statistics too.
fn relabel_page(p: &mut Page, now: u64) {
    let to_long = p.flags & LONG_LIVED == 0;
    count_long_page(p, to_long);
    p.flags ^= LONG_LIVED;
    p.since = now;
    GLOBAL.site_pages_relabelled.add(1);
}

/// With placement on, before the long-lived set of a class takes a fresh page: a partial page
/// of the class's ordinary set, re-labelled long-lived. Its short-lived blocks die and leave
/// room that long-lived blocks fill, so the long-lived set grows into the holes of the ordinary
/// one before it takes more memory. The reverse is not done: an ordinary page made of the
/// long-lived set's holes would keep its long-lived blocks among short-lived ones, and every
/// such exchange would scatter them further (on `workload server` at scale 1, borrowing both
/// ways ended at 101–104 MiB, this way only at 71 MiB, with a peak 3 % higher).
unsafe fn take_from_ordinary_set(pages: &mut Pages, slot: usize, now: u64) -> Option<*mut Page> {
    if !pages.placing() || slot < SMALL_CLASSES {
        return None;
    }
    let ordinary = class_of_slot(slot);
    while let Some(page) = pages.partial[ordinary].pop_front() {
        // SAFETY: partial pages belong to `pages`.
        let p = unsafe { &mut *page };
        collect(p);
        if p.has_room() {
            relabel_page(p, now);
            return Some(page);
        }
        p.enter_full();
        // SAFETY: the page was just unlinked.
        unsafe { pages.full[ordinary].push_back(page) };
    }
    None
}

/// Looks at up to `limit` full pages of `slot` (oldest first, rotating) for blocks other
/// threads freed; returns the first page that got some back.
unsafe fn sweep_full(pages: &mut Pages, slot: usize, limit: usize) -> Option<*mut Page> {
    let list = &mut pages.full[slot];
    for _ in 0..limit.min(list.len) {
        let page = list.pop_front()?;
        // SAFETY: full pages belong to `pages`.
        let p = unsafe { &mut *page };
        if collect(p) > 0 {
            p.leave_full();
            pages.full_found_remote += 1;
            return Some(page);
        }
        // SAFETY: the page was just unlinked.
        unsafe { list.push_back(page) };
    }
    None
}

/// Collects remote frees on every full page of every slot: pages that came back entirely
/// are retired, pages with room move to the partial lists. Done before mapping new memory
/// (when [`full_sweep_due`]), and when all memory is given back (`sacs::purge()`, a heap's
/// release).
///
/// # Safety
/// - `pages` is the calling thread's page set (or the backstop's under its lock).
pub unsafe fn sweep_all_full(pages: &mut Pages) {
    pages.made_since_sweep = 0;
    pages.full_found_remote = 0;
    for slot in 0..SLOTS {
        let mut page = pages.full[slot].head;
        while !page.is_null() {
            // SAFETY: full pages belong to `pages`; `next` is read before the page is relinked.
            unsafe {
                let next = (*page).next;
                if collect(&mut *page) > 0 {
                    pages.full[slot].remove(page);
                    (*page).leave_full();
                    if (*page).used() == 0 {
                        retire::retire_page(pages, page);
                    } else {
                        pages.partial[slot].push_back(page);
                    }
                }
                page = next;
            }
        }
    }
}

/// Whether the COLD path sweeps every full page before it looks for new memory: when a
/// refill's look at a few full pages ([`sweep_full`]) found other threads' frees on one since
/// the last sweep, or when at least one page was made since then per [`FULL_PAGES_PER_MADE`]
/// full pages. A sweep costs a look at every full page (a cache miss each), and a heap that
/// only grows reaches the COLD path once per segment with ever more full pages: sweeping each
/// time was quadratic in the heap's size (a program growing to 8 M blocks of 64 - 255 B spent
/// most of its user time there: `scripts/grow.c`). Paced so, a heap that no other thread frees
/// into sweeps at most that many pages per page made; a small heap, whose full pages are few,
/// and a heap that other threads free into, sweep at every COLD path as before. What pacing
/// can cost: pages of one class that another thread emptied without any refill of this heap
/// looking at them wait for the next sweep, while up to one sixteenth of the full pages is
/// made new.
fn full_sweep_due(pages: &Pages) -> bool {
    if pages.full_found_remote > 0 {
        return true;
    }
    let full: usize = pages.full.iter().map(|list| list.len).sum();
    pages.made_since_sweep.saturating_mul(FULL_PAGES_PER_MADE) >= full
}

/// A fresh page for `slot`: from the warm pool, after a prefill, or after the COLD path.
unsafe fn new_page(pages: &mut Pages, slot: usize, now: u64) -> Option<*mut Page> {
    let class = class_of_slot(slot);
    let (pool, slices) = page_shape(class);
    if pages.warm[pool].is_empty() {
        if !prefill(pages, pool, slices, now) {
            // SAFETY: `pages` is the caller's.
            unsafe { cold(pages, pool, slices, now)? };
        }
    } else {
        // Only a page that was waiting in the pool is a hit; one just prefilled is not.
        GLOBAL.warm_pool_hits.add(1);
    }
    let page = pages.warm[pool].pop_front()?;
    pages.made_since_sweep += 1;
    let owner = pages.id();
    // SAFETY: warm-pool pages are empty spans of our segments.
    unsafe {
        let p = &mut *page;
        p.init(PageKind::Small, class, p.start, slices * SLICE, owner);
        if slot != class {
            p.flags |= LONG_LIVED;
            count_long_page(p, true);
        }
        p.since = now;
    }
    Some(page)
}

/// Carves up to `SACS_PREFILL_PAGES` spans of `slices` slices from the thread's segments into
/// warm pool `pool`, the one its caller takes included, and no more than the pool keeps
/// (`SACS_WARM_POOL_PAGES`) besides that one: pages carved beyond it stayed in the pool until
/// as many pages had retired, dirty and out of reach of every purge but the thread's own (a
/// worker that then waits kept them for as long as it waited). Returns whether it carved any.
fn prefill(pages: &mut Pages, pool: usize, slices: usize, now: u64) -> bool {
    let room = options::get(Opt::WarmPoolPages).saturating_sub(pages.warm[pool].len);
    let want = options::get(Opt::PrefillPages).min(room + 1).max(1);
    let owner = pages.id();
    let mut got = 0;
    let mut seg = pages.segments.head;
    while got < want && !seg.is_null() {
        // SAFETY: our segments are valid and owned by this thread.
        let s = unsafe { &mut *seg };
        match s.take_span_purged(slices) {
            Some((page, purged)) => {
                pages.purge_delay.note_refault(purged, now);
                // SAFETY: a new span of our own segment.
                unsafe {
                    (*page).kind = PageKind::Small as u8;
                    (*page).class = 0;
                    (*page).flags |= IN_WARM_POOL;
                    (*page).since = now;
                    (*page).owner.store(owner, Relaxed);
                    pages.warm[pool].push_back(page);
                }
                got += 1;
            }
            None => seg = s.next,
        }
    }
    if got > 0 {
        GLOBAL.warm_pool_prefills.add(1);
    }
    got > 0
}

/// A segment for heap pages: an empty one from the segment cache, else an arena segment whose
/// blocks all sat cached (`big::lend_idle_segment`: memory already committed, that the big
/// tier holds for no one), else a new mapping. `None` when the system has no memory.
pub fn obtain_segment(now: u64) -> Option<*mut segment::Segment> {
    segment::cache::take(SegmentKind::Heap, now)
        .or_else(|| {
            crate::big::lend_idle_segment(now)
                .then(|| segment::cache::take(SegmentKind::Heap, now))
                .flatten()
        })
        .or_else(|| segment::map_new(SegmentKind::Heap))
}

/// The COLD path: fills warm pool `pool` after sweeping every full page (which may free whole
/// pages), by adopting abandoned segments, taking one from the segment cache, or mapping one.
/// Returns `None` when the system has no memory.
unsafe fn cold(pages: &mut Pages, pool: usize, slices: usize, now: u64) -> Option<()> {
    if full_sweep_due(pages) {
        // SAFETY: `pages` is the caller's.
        unsafe { sweep_all_full(pages) };
    }
    let mut adopted = 0;
    loop {
        if !pages.warm[pool].is_empty() || prefill(pages, pool, slices, now) {
            return Some(());
        }
        // Adopt a few abandoned segments, but do not take over every fragmented one in search
        // of a long free run: after that, map.
        // SAFETY: as above.
        if adopted < MAX_ADOPT_PER_REFILL && unsafe { abandon::adopt_one(pages) } {
            adopted += 1;
            continue;
        }
        let Some(seg) = obtain_segment(now) else {
            if options::get(Opt::Verbose) != 0 {
                platform::write_stderr(b"sacs: out of memory: could not map a segment\n");
            }
            return None;
        };
        // SAFETY: the segment is empty and ours alone.
        unsafe {
            (*seg).owner.store(pages.id(), Relaxed);
            pages.segments.push_front(seg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_growing_heap_sweeps_its_full_pages_paced() {
        let mut pages = Pages::new();
        // A small heap sweeps at every COLD path.
        pages.full[3].len = 10;
        pages.made_since_sweep = 1;
        assert!(full_sweep_due(&pages));
        // A large one once a sixteenth of its full pages was made since the last sweep.
        pages.full[3].len = 1000;
        pages.full[50].len = 1000;
        pages.made_since_sweep = 124;
        assert!(!full_sweep_due(&pages));
        pages.made_since_sweep = 125;
        assert!(full_sweep_due(&pages));
        // Or as soon as a refill found other threads' frees on a full page.
        pages.made_since_sweep = 1;
        pages.full_found_remote += 1;
        assert!(full_sweep_due(&pages));
        // The sweep starts the count again.
        pages.full[3].len = 0;
        pages.full[50].len = 0;
        // SAFETY: the lists are empty (their lengths were set by hand; no page is linked).
        unsafe { sweep_all_full(&mut pages) };
        assert_eq!(pages.made_since_sweep, 0);
        assert_eq!(pages.full_found_remote, 0);
    }
}
