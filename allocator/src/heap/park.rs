//! Parking: purging on the next call of an idle thread.
//!
//! SACS has no background thread, so memory freed and then left alone is given back on a later
//! call. Slow paths look at the clock; the HOT paths must not (they would pay for it on every
//! call). A thread that has just deferred a purge (freed a big block or a whale, or emptied a
//! small page) is *parked*:
//! its slot holds the [`PARKED`] sentinel, whose current pages are all EMPTY and which owns no
//! page, so its next allocation or free misses the HOT path at no cost to it. That slow call
//! puts the real heap back, reads the coarse clock and runs the purge looks that are due. While
//! purging still has work pending it parks the thread again, for at most [`PARK_CALLS`] calls
//! after the free that parked it: a program that goes idle right after freeing is caught on its
//! first call after the pause, and a busy one pays at most that many slow calls per big free.

use super::{current, lifecycle, set_current, tick, Heap, HeapState, PARKED};
use crate::platform::{self, thread};
use crate::purge;

/// Calls of a parked thread that re-park it while purging still has work (see above).
const PARK_CALLS: u8 = 8;

/// Parks the calling thread's heap `h` if it is live and the thread-exit key can find it again.
///
/// # Safety
/// - `h` is the calling thread's heap as [`current`] returns it (a live heap or a sentinel).
#[inline]
pub unsafe fn park(h: *mut Heap) {
    // SAFETY: sentinels and live heaps are valid to read; a live heap is only ours.
    unsafe {
        if (*h).state == HeapState::Live && lifecycle::key().is_some() {
            (*h).park_calls = PARK_CALLS;
            set_current(PARKED.ptr());
        }
    }
}

/// The calling thread's live heap while its slot holds `PARKED`: the key's value.
fn parked_heap() -> *mut Heap {
    // `park` parks only when the key exists; its value is this thread's live heap.
    match lifecycle::key() {
        Some(key) => thread::key_get(key) as *mut Heap,
        None => unreachable_parked(),
    }
}

#[cold]
fn unreachable_parked() -> *mut Heap {
    platform::write_stderr(b"sacs: internal error: a parked thread without a key\n");
    platform::abort()
}

/// Un-parks the calling thread and runs the purge looks that are due. Returns its live heap.
///
/// # Safety
/// - the calling thread's slot holds `PARKED`.
#[cold]
#[inline(never)]
pub unsafe fn unpark() -> *mut Heap {
    let h = parked_heap();
    set_current(h);
    let now = platform::now_ms();
    // SAFETY: `h` is the calling thread's live heap.
    unsafe {
        if now >= (*h).next_purge {
            tick::heap_tick(&mut *h, now, false);
        } else {
            tick::global_tick(now, false);
        }
    }
    h
}

/// Parks `h` again if purging still has work (the heap's own, or the shared structures') and
/// the calls allowed since the last park are not used up.
///
/// # Safety
/// - `h` is the calling thread's live heap.
#[inline]
pub unsafe fn repark(h: *mut Heap) {
    // SAFETY: per the contract.
    unsafe {
        if (*h).park_calls > 0 && ((*h).purge_pending || purge::deferred()) {
            (*h).park_calls -= 1;
            set_current(PARKED.ptr());
        }
    }
}

/// The calling thread's heap with a parked heap resolved to the live one (without un-parking):
/// the one place that tells a parked slot from its heap.
pub fn resolved() -> *mut Heap {
    let h = current();
    // SAFETY: sentinels and live heaps are valid to read.
    if unsafe { (*h).state } == HeapState::Parked {
        parked_heap()
    } else {
        h
    }
}
