//! Pages that empty: a local free that leaves a page with no blocks out (or takes one off the
//! full list), the warm pool that keeps empty pages committed for a while, spans going back to
//! their segments, the thread's purge look over both, and the trim of a retiring thread's
//! pages (`trim`: free blocks at the top of a page un-carved and decommitted).

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;

use super::{count_long_page, page_shape, slot_of, Pages, SLOTS, WARM_NARROW, WARM_WIDE};
use crate::options::{self, Opt};
use crate::page::{Page, Tail, EMPTY, IN_FULL, IN_WARM_POOL, LONG_LIVED, PUNCHED};
use crate::platform;
use crate::platform::memory::OS_PAGE;
use crate::purge;
use crate::segment::{self, Segment};
use crate::stats::GLOBAL;

/// A local free left `page` with no blocks out, or hit a page on the full list: moves it to
/// the partial list or, empty, into the warm pool (then returns true).
///
/// # Safety
/// - `page` belongs to `pages`, the calling thread's page set, and is not current.
pub unsafe fn page_freed(pages: &mut Pages, page: *mut Page) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let p = &mut *page;
        let slot = slot_of(p);
        if p.flags & IN_FULL != 0 {
            pages.full[slot].remove(page);
            p.leave_full();
            if p.used() != 0 {
                // At the back: the pages ahead of it have had longer to gather freed blocks
                // (made current now, it would serve a block or two and be full again).
                pages.partial[slot].push_back(page);
                return false;
            }
        } else {
            pages.partial[slot].remove(page);
        }
        retire_page(pages, page);
        true
    }
}

/// Moves an empty page (on no list) into the warm pool, releasing the oldest warm page when the
/// pool is over `SACS_WARM_POOL_PAGES`.
///
/// # Safety
/// - `page` is an empty page of `pages`, on no list.
pub unsafe fn retire_page(pages: &mut Pages, page: *mut Page) {
    // SAFETY: the page is ours and on no list.
    unsafe {
        let p = &mut *page;
        debug_assert!(p.used() == 0 && !p.has_remote());
        let (pool, _) = page_shape(p.class as usize);
        if p.flags & LONG_LIVED != 0 {
            count_long_page(p, false);
        }
        p.flags = IN_WARM_POOL;
        drop_holes(p);
        // No block of a retired page is live: a late free of one is caught as a bad pointer.
        p.free = ptr::null_mut();
        p.extended = 0;
        p.carved.store(0, Relaxed);
        let now = platform::now_ms();
        p.since = now;
        pages.warm[pool].push_front(page);
        let seg = Segment::of(page as *const u8);
        if pages.warm[pool].len > options::get(Opt::WarmPoolPages) {
            if let Some(old) = pages.warm[pool].pop_back() {
                (*old).flags = 0;
                release_span(pages, old, now);
                if Segment::of(old as *const u8) == seg {
                    // `release_span` has looked at this segment with the page in the pool
                    // (or released the page itself, with a pool of no pages): it went to the
                    // cache, page and all, where it may be another thread's or unmapped by
                    // now, or it holds other pages. Either way there is nothing left to do,
                    // and the page is not to be read again.
                    return;
                }
            }
        }
        release_if_only_warm(pages, seg, now);
    }
}

/// Gives `seg`'s warm-pool pages back to it, and the segment to the cache, when they are all
/// that is left in it: the thread has freed everything it had there.
///
/// Why: a warm pool of a few pages can keep whole segments from the cache. A worker thread
/// that finishes a job and waits for the next (`workload pool-small`) had its last emptied
/// pages in the pool, spread over the job's segments, so all of them stayed with the waiting
/// thread, dirty, until its next call purged them (too late to lend them to the next worker,
/// and just before it faulted them back itself). Now those segments go to the cache as the
/// job ends and the next worker takes them with their pages committed (see
/// `purge::note_cache_taken`). A thread that keeps other pages in a segment keeps its warm
/// pages there too.
///
/// Returns whether the segment went to the cache (it, and every page header in it, may then
/// belong to another thread, or be unmapped).
///
/// # Safety
/// - `seg` is one of `pages`'s segments.
unsafe fn release_if_only_warm(pages: &mut Pages, seg: *mut Segment, now: u64) -> bool {
    // SAFETY: per the contract the segment and its pages are ours.
    unsafe {
        let used = (*seg).used_slices();
        let warm = pages.warm[WARM_NARROW].len * super::NARROW_PAGE_SLICES
            + pages.warm[WARM_WIDE].len * super::WIDE_PAGE_SLICES;
        if used == 0 || used > warm {
            return false;
        }
        let in_seg = |p: *mut Page| Segment::of(p as *const u8) == seg;
        let mut found = 0;
        for pool in [WARM_NARROW, WARM_WIDE] {
            let mut page = pages.warm[pool].head;
            while !page.is_null() {
                if in_seg(page) {
                    found += (*page).slices as usize;
                }
                page = (*page).next;
            }
        }
        if found != used {
            return false;
        }
        for pool in [WARM_NARROW, WARM_WIDE] {
            let mut page = pages.warm[pool].head;
            while !page.is_null() {
                let next = (*page).next;
                if in_seg(page) {
                    pages.warm[pool].remove(page);
                    (*page).flags = 0;
                    // Dirty since it entered the pool.
                    (*seg).give_span(page, true, (*page).since.min(now));
                }
                page = next;
            }
        }
        // The shared look for idle heaps may have taken free slices out meanwhile
        // (`segment::idle`): then the segment stays, with its warm pages' spans free.
        if !(*seg).is_empty() {
            return false;
        }
        pages.segments.remove(seg);
        GLOBAL.segments_unpinned.add(1);
        segment::cache::put(seg, now);
        true
    }
}

/// Gives a page's span back to its segment (dirty since `since`, when it emptied: its purge
/// deadline counts from then); an emptied segment goes to the cache, as does one left with
/// warm-pool pages only (`release_if_only_warm`). Returns whether the segment went to the
/// cache: then no page of it is the caller's to read any more.
///
/// # Safety
/// - `page` is an empty span of one of `pages`'s segments, on no list.
pub unsafe fn release_span(pages: &mut Pages, page: *mut Page, since: u64) -> bool {
    let seg = Segment::of(page as *const u8);
    // SAFETY: the segment is one of ours; so is the page.
    unsafe {
        drop_holes(&mut *page);
        (*seg).give_span(page, true, since);
        if (*seg).is_empty() {
            pages.segments.remove(seg);
            segment::cache::put(seg, since);
            true
        } else {
            release_if_only_warm(pages, seg, since)
        }
    }
}

/// The thread's purge look: releases warm-pool pages older than the purge delay (all with
/// `force`) and decommits the dirty slices of its segments whose deadline, lengthened as the
/// delay says, passed; then lets the delay judge the look. Returns whether memory is left to
/// purge later (warm pages, or dirty slices not yet due).
///
/// # Safety
/// - `pages` is the calling thread's page set (or the backstop's under its lock).
pub unsafe fn purge_idle(pages: &mut Pages, now: u64, force: bool) -> bool {
    let delay = pages.purge_delay.current();
    let extra = pages.purge_delay.extra();
    // The longest the memory given back had been idle (warm pages released here go through
    // the segments' dirty slices, which keep their time).
    let mut idle = 0;
    for pool in [WARM_NARROW, WARM_WIDE] {
        // SAFETY: warm pages are ours.
        let due = |p: *mut Page| purge::aged(unsafe { (*p).since }, now, delay, force);
        while let Some(old) = pages.warm[pool].pop_back_if(due) {
            // SAFETY: just unlinked; an empty page of ours.
            unsafe {
                (*old).flags = 0;
                // Dirty since it entered the pool: it has waited its delay already, so the
                // segment pass below decommits it in this same look.
                release_span(pages, old, (*old).since.min(now));
            }
        }
    }
    // SAFETY: `pages` is the calling thread's, per the contract.
    let mut bytes = unsafe { punch_idle(pages, now, delay, force) };
    let mut pending = !pages.warm[WARM_NARROW].is_empty() || !pages.warm[WARM_WIDE].is_empty();
    let mut seg = pages.segments.head;
    while !seg.is_null() {
        // SAFETY: our segments are ours alone: no other thread touches their slice bitmaps.
        unsafe {
            let since = (*seg).oldest_dirty();
            let done = Segment::purge_if_due_after(seg, now, force, extra);
            if done > 0 {
                idle = idle.max(now.saturating_sub(since));
            }
            bytes += done;
            pending |= (*seg).has_dirty();
            seg = (*seg).next;
        }
    }
    if !force {
        pages.purge_delay.judge(now, bytes, idle);
    }
    pending
}

/// Punches the free system pages out of the partial pages that have been idle for the purge
/// delay, every partial page with `force` (see `page::holes`): their blocks leave the free list,
/// the pages are decommitted, one `madvise` per run of neighbouring ones. Idle means: at most
/// half its blocks out and not made current for the delay; or, for a fuller page, neither made
/// current nor freed into for the delay: a look marks it with the time and its count of blocks
/// out (`idle_at`, `idle_used`), and a later look punches it once the delay has passed with the
/// count unchanged (a changed count marks it anew; being made current clears the mark). A page
/// is punched once per idle spell (`PUNCHED`). Returns the bytes given back.
///
/// The walk reads two lines of every partial page's entry, so it runs at most every quarter of
/// the delay (every look with `force`), not at every purge look: a page is then punched within
/// a quarter of the delay after it became due. `workload server` keeps a thousand or more
/// partial pages and lengthens its delay to hundreds of milliseconds, while its looks come
/// every 5 ms (half of `SACS_PURGE_DELAY_MS`): walking at each of its 269 looks took 1.0 M
/// first-level data misses of its 27 M (cachegrind).
///
/// Why: a page stays committed while one block of it is out. After a phase whose long-lived
/// survivors are scattered (a cache that shrank, with its entries spread over the pages it
/// filled), nearly every page keeps a few, and most of its memory is free blocks: on `workload
/// server` the 12,000 entries that remain touch 27–35 MiB of system pages, while the pages
/// holding them keep 89–132 MiB. Why the mark: a page that had been full for long and just got
/// a block back is not idle, and punching it at once cost refaults (counting from when it was
/// last current, whatever its count, `big-mix` took 33 % more minor faults and `thread-rounds`
/// 27 %, medians of 3 in `scripts/compare.sh --reps 3`).
///
/// # Safety
/// - `pages` is the calling thread's page set (or the backstop's under its lock).
unsafe fn punch_idle(pages: &mut Pages, now: u64, delay: u64, force: bool) -> usize {
    if !force && now < pages.next_punch {
        return 0;
    }
    pages.next_punch = now + delay / 4;
    let mut bytes = 0;
    let stamp = (now as u32).max(1);
    for slot in 0..SLOTS {
        let mut page = pages.partial[slot].head;
        while !page.is_null() {
            // SAFETY: a page on our partial list; punching leaves it there.
            let p = unsafe { &mut *page };
            page = p.next;
            if !force {
                if p.flags & PUNCHED != 0 {
                    continue;
                }
                let used = p.used();
                debug_assert!(used <= p.capacity, "a partial page's count is off");
                // Mostly free and not current for the delay: what a phase's survivors leave.
                let sparse = 2 * used <= p.capacity && purge::aged(p.since, now, delay, false);
                if !sparse {
                    if p.idle_at == 0 || p.idle_used != used {
                        (p.idle_at, p.idle_used) = (stamp, used);
                        continue;
                    }
                    if (stamp.wrapping_sub(p.idle_at) as u64) < delay {
                        continue;
                    }
                }
            }
            p.flags |= PUNCHED;
            let holes = p.punch_holes(1);
            if holes == 0 {
                continue;
            }
            // SAFETY: the holes hold only free blocks, now on no list (`punch_holes`).
            let done = unsafe { segment::decommit_unit_runs(p.start, OS_PAGE, holes) };
            bytes += done.count_ones() as usize * OS_PAGE;
            // All holes leave the committed figure, as `fill_holes` and `drop_holes` bring all
            // back (a run the kernel refused stays resident, uncounted).
            GLOBAL.decommitted(holes.count_ones() as usize * OS_PAGE);
            GLOBAL.holes_punched.add(holes.count_ones() as u64);
        }
    }
    if bytes > 0 {
        pages.punched_at = now;
    }
    GLOBAL.purged_bytes.add(bytes as u64);
    bytes
}

/// Puts the blocks of `p`'s holes back on its free list, for a refill of `pages` that found the
/// list empty: whether it put back any. Their system pages count as committed again (they are
/// faulted in as the links are written), and the refault is reported to the purge delay as
/// one of the memory the last punching look gave back, so that a program whose idle pages
/// are soon used again has its delay lengthened, as for purged slices.
#[inline]
pub fn fill_holes(pages: &mut Pages, p: &mut Page) -> bool {
    // Most refills find no holes: the test stays inline, the work does not.
    p.hole_bits() != 0 && fill_holes_of(pages, p)
}

/// [`fill_holes`] of a page that has holes.
#[cold]
#[inline(never)]
fn fill_holes_of(pages: &mut Pages, p: &mut Page) -> bool {
    let (blocks, os_pages) = p.fill_holes();
    if os_pages > 0 {
        GLOBAL.committed(os_pages as usize * OS_PAGE);
        GLOBAL.holes_filled.add(os_pages as u64);
        pages
            .purge_delay
            .note_refault(pages.punched_at, platform::now_ms());
    }
    blocks > 0
}

/// Forgets the holes of `p`, which emptied: its span goes back as a whole, counted committed
/// (dirty) until the segment's purge decommits it, holes included.
pub fn drop_holes(p: &mut Page) {
    let os_pages = p.drop_holes();
    if os_pages > 0 {
        GLOBAL.committed(os_pages as usize * OS_PAGE);
    }
}

/// Free tails shorter than this are left committed by [`trim`].
pub const TRIM_MIN_BYTES: usize = 4096;

/// Trims the pages of a retiring thread's page set: when at most a third of the bytes its pages
/// have carved are blocks still out, every current or partial page un-carves the free blocks at
/// its top, all of them or the upper half (`tail`, see `Page::trim_tail`), and the memory they
/// alone covered is decommitted, one `madvise` per page. Returns the bytes given back.
///
/// Why: a page carves blocks only when its free list is empty, so its carved blocks are the
/// most its class ever had out at once. A page set handed from thread to thread
/// (`heap::lifecycle`) keeps each class's high-water mark of every thread so far, and the sum
/// of the classes' marks stays resident, though no thread has them all out at once: on
/// `workload thread-churn` about 1.35 MiB per heap for 0.6 MiB live at the most. A thread that
/// exits leaving most of that free has left its working set behind; one that hands on much of
/// what it carved (`workload thread-rounds`) is left alone, as is a live thread. (With the gate
/// at a half, `thread-rounds` was trimmed now and then and faulted the memory back: minor
/// faults +23 %, median of 11 runs.)
///
/// # Safety
/// - `pages` is the calling thread's page set, and the caller holds no spin lock.
pub unsafe fn trim(pages: &mut Pages, tail: Tail) -> usize {
    let (mut live, mut carved) = (0, 0);
    for slot in 0..SLOTS {
        let mut add = |p: &Page| {
            live += p.used() as usize * p.block_size as usize;
            carved += p.extended as usize * p.block_size as usize;
        };
        // SAFETY: the set's pages are ours; collecting remote frees is the owner's to do.
        unsafe {
            for_pages_with_room(pages, slot, |p| {
                p.collect_remote();
                add(p);
            })
        };
        let mut page = pages.full[slot].head;
        while !page.is_null() {
            // SAFETY: a page on our full list. Its remote frees are left for the sweeps, which
            // find full pages with room by collecting them.
            unsafe {
                add(&*page);
                page = (*page).next;
            }
        }
    }
    if 3 * live > carved {
        return 0;
    }
    let mut bytes = 0;
    for slot in 0..SLOTS {
        // SAFETY: as above; the range `trim_tail` returns holds only blocks it un-carved, which
        // no one uses.
        unsafe {
            for_pages_with_room(pages, slot, |p| {
                if let Some((from, len)) = p.trim_tail(TRIM_MIN_BYTES, tail) {
                    if platform::decommit(from, len) {
                        GLOBAL.purged_runs.add(1);
                        bytes += len;
                    }
                }
            })
        };
    }
    GLOBAL.purged_bytes.add(bytes as u64);
    bytes
}

/// Runs `f` on the current page of `slot` (if any) and on each of its partial pages.
///
/// # Safety
/// - `pages` is the calling thread's page set; `f` leaves every page on the list it is on.
unsafe fn for_pages_with_room(pages: &mut Pages, slot: usize, mut f: impl FnMut(&mut Page)) {
    let current = pages.current[slot];
    if current != EMPTY.ptr() {
        // SAFETY: the current page is ours.
        f(unsafe { &mut *current });
    }
    let mut page = pages.partial[slot].head;
    while !page.is_null() {
        // SAFETY: a page on our partial list, which `f` does not move.
        unsafe {
            f(&mut *page);
            page = (*page).next;
        }
    }
}
