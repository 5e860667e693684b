//! Frees that need more than the HOT push: a local free that empties its page or takes a page
//! off the full list, a free of another heap's small block, and a free of a big block.

use super::{park, Heap, HeapState};
use crate::big;
use crate::error::{self, Misuse};
use crate::page::{Block, Page, IN_FULL, LOCAL, SITED};
use crate::platform;
use crate::site;
use crate::size_class::class_size;
use crate::small::{retire, slot_of};
use crate::stats::{self, GLOBAL};

/// A local free left `page` with no blocks out, or hit a page on the full list.
///
/// # Safety
/// - `page` belongs to `heap`, the calling thread's live heap.
#[cold]
#[inline(never)]
pub unsafe fn page_freed(heap: *mut Heap, page: *mut Page) {
    // SAFETY: per the contract the page and the heap are ours.
    unsafe {
        let h = &mut *heap;
        if h.small.current[slot_of(&*page)] == page {
            // The current page carries a pin, so its count reached zero only by freeing more
            // blocks than it handed out.
            (*page).held += 1;
            let b = (*page).free;
            (*page).free = (*b).next;
            return error::report("free", Misuse::DoubleFree, b as *const u8);
        }
        if retire::page_freed(&mut h.small, page) {
            h.purge_pending = true;
            // The page waits in the warm pool (or as dirty slices of its segment) for the purge
            // delay; a program that stops calling now must still get it back: the thread's next
            // call looks at purging (see `park`).
            park::park_at_most_once_per_interval(heap);
        }
    }
}

/// Pushes `block` onto its page's remote list and counts the free for the calling thread.
///
/// # Safety
/// - `block` is a live block of `page`, a small page that `heap` (the calling thread's heap,
///   not parked) does not own.
#[inline(never)]
pub unsafe fn free_remote(heap: *mut Heap, page: *mut Page, block: *mut u8) {
    // SAFETY: per the contract.
    unsafe {
        (*page).push_remote(block as *mut Block);
        let class = (*page).class as usize;
        if (*heap).state == HeapState::Live {
            (*heap).counters.remote_free(class);
        } else {
            let tier = stats::small_tier(class) as usize;
            GLOBAL.tier_frees[tier].add(1);
            GLOBAL.tier_bytes[tier].sub(class_size(class) as u64);
        }
    }
}

/// Frees the big block at `p`: into the thread's own cache when it has room, else to its
/// arena, after which the thread is parked (at most once per purge interval, as for an emptied
/// page) so that a later call purges. Returns false (heap untouched) if the block is not in
/// use: a double free.
///
/// # Safety
/// - `page` is the page entry of `p`, a big span whose start is `p`; `heap` is the calling
///   thread's heap (not parked).
pub unsafe fn free_big(heap: *mut Heap, page: *mut Page, p: *mut u8) -> bool {
    // SAFETY: per the contract; `used` and `flags` of a live block are only written by the
    // thread that frees it (the arena writes them under its lock once the block is given back).
    unsafe {
        if free_big_to_thread_cache(heap, page) {
            return true;
        }
        if (*page).flags & SITED != 0 {
            return free_big_sited(heap, page, p);
        }
        if !big::free(page, p) {
            return false;
        }
        park::park_at_most_once_per_interval(heap);
    }
    true
}

/// Keeps the big block of `page` in the thread's own cache (at most 4 MiB, `big::local`) when
/// the heap is live, the block in use and not sited, and the cache has room; returns whether it
/// did (else nothing changed).
///
/// The block waits there for the next allocation of its size. The heap is not parked: a park
/// here would send every alloc/free pair of a big size through the slow path and a clock read;
/// the cache is flushed by the heap's regular purge looks.
///
/// # Safety
/// - `page` is the page entry of a big span; `heap` is the calling thread's heap slot value.
#[inline(always)]
pub unsafe fn free_big_to_thread_cache(heap: *mut Heap, page: *mut Page) -> bool {
    // SAFETY: per the contract; `used` and `flags` of a live block are only written by the
    // thread that frees it (the arena writes them under its lock once the block is given back).
    unsafe {
        // A big page is never on a full list, so its count is `held + 1`: one block out is
        // `held == 0` (one compare, where `used()` takes the full-list bias into account).
        debug_assert!((*page).flags & IN_FULL == 0);
        (*page).held == 0 && (*page).flags & (LOCAL | SITED) == 0 && keep_in_cache(heap, page)
    }
}

/// Puts the freed big block `page` into the live heap's own cache if it has room, counting it;
/// returns whether it did (else nothing changed).
///
/// # Safety
/// - as for [`free_big_to_thread_cache`], and the block is in use, not in a thread's cache.
#[inline(always)]
unsafe fn keep_in_cache(heap: *mut Heap, page: *mut Page) -> bool {
    // SAFETY: per the contract.
    unsafe {
        let h = &mut *heap;
        // Read before the cache keeps the block: from then on the shared look may take it out
        // and give it to its arena, whose purge may unmap its segment, page entry and all.
        let bytes = class_size((*page).class as usize) as u64;
        if h.state != HeapState::Live || !h.big.free(page) {
            return false;
        }
        // The live heap lists its cache for the shared purge look, and its retirement takes
        // it off (`lifecycle::thread_exit`).
        h.big.list();
        h.counters.big_cache_frees.add(1);
        h.counters.big_cache_free_bytes.add(bytes);
        true
    }
}

/// [`free_big`] of a block allocated through a Site Rules entry: records the free for its site
/// (`site::big`), then decommits the block at once if its site is one-shot, else frees it as
/// any other.
///
/// # Safety
/// - as for [`free_big`].
#[cold]
#[inline(never)]
#[link_section = ".sacs_rare"]
unsafe fn free_big_sited(heap: *mut Heap, page: *mut Page, p: *mut u8) -> bool {
    // SAFETY: per the contract (see `free_big`).
    unsafe {
        // A block in use (not a double free) is recorded; a double free is reported below.
        if (*page).used() == 1 && (*page).flags & LOCAL == 0 {
            if site::big::freed(page, platform::now_ms()) {
                // Decommitted by the arena before this returns: nothing left to purge later.
                return big::free(page, p);
            }
            if keep_in_cache(heap, page) {
                return true;
            }
        }
        if !big::free(page, p) {
            return false;
        }
        park::park_at_most_once_per_interval(heap);
    }
    true
}
