//! The heap's slow allocation paths: the WARM path of a small class (with the heap's purge look
//! between refilling the current page and finding a new one) and the thread's big-block cache.

use super::{park, tick, Heap, HeapState};
use crate::size_class::class_size;
use crate::small::refill;
use crate::{platform, purge};

/// The current page of `slot` (a class and its page set) had no free block: refills it, finds
/// another page or takes a larger class's spare block, and pops a block, counted to the slot
/// whose page it came from. Returns null only when the system has no memory.
///
/// # Safety
/// - `heap` is the calling thread's real heap (or the backstop with its lock held);
///   `slot < small::SLOTS`.
pub unsafe fn refill(heap: *mut Heap, slot: usize) -> *mut u8 {
    // SAFETY: per the contract, `heap` and its pages are ours.
    let h = unsafe { &mut *heap };
    // SAFETY: as above.
    let (mut block, mut served) = unsafe { refill::refill_current(&mut h.small, slot) };
    if block.is_null() {
        served = slot;
        let now = platform::now_ms();
        if now >= h.next_purge {
            tick::heap_tick(h, now, false);
            if h.purge_pending || purge::deferred() {
                // SAFETY: `h` is the calling thread's heap; the slot being refilled has no
                // current page, the others are put back.
                unsafe { park::nudge_at_most_once_per_interval(h, now) };
            }
        }
        // SAFETY: as above; `refill_current` left the class with no current page.
        block = unsafe { refill::refill_new_page(&mut h.small, slot, now) };
        if block.is_null() {
            return block;
        }
    }
    h.counters.allocs[served].add(1);
    block
}

/// A big block of `class` from the thread's own cache (zeroed if `zero`), if it holds one.
///
/// # Safety
/// - `heap` is the calling thread's real heap (or the backstop with its lock held).
/// - `class` is a big class: the class of a size above `MID_MAX` and below `WHALE_MIN` (the
///   cache indexes its arrays with it unchecked).
#[inline]
pub unsafe fn big_from_cache(heap: *mut Heap, class: usize, zero: bool) -> Option<*mut u8> {
    // SAFETY: per the contract.
    let h = unsafe { &mut *heap };
    if h.state != HeapState::Live {
        return None;
    }
    // SAFETY: a big class (the contract).
    let p = unsafe { h.big.alloc(class) }?;
    let size = class_size(class);
    h.counters.big_cache_allocs.add(1);
    h.counters.big_cache_alloc_bytes.add(size as u64);
    if zero {
        // SAFETY: the block just taken is ours and `size` bytes long.
        return Some(unsafe { crate::big::zeroed(p, size) });
    }
    Some(p)
}
