//! Parking: purging on the next call of an idle thread.
//!
//! SACS has no background thread, so memory freed and then left alone is given back on a later
//! call. Slow paths look at the clock; the HOT paths must not (they would pay for it on every
//! call). A thread that has just deferred a purge (freed a big block or a whale, or emptied a
//! small page, this at most once per purge interval) is *parked*:
//! its slot holds the [`PARKED`] sentinel, whose current pages are all EMPTY and which owns no
//! page, so its next allocation or free misses the HOT path at no cost to it. That slow call
//! puts the real heap back, reads the coarse clock and runs the purge looks that are due. While
//! purging still has work pending it parks the thread again, for at most [`PARK_CALLS`] calls
//! after the free that parked it: a program that goes idle right after freeing is caught on its
//! first call after the pause, and a busy one pays at most that many slow calls per big free.
//!
//! Those calls can be used up before the pause: a program frees on after its last page
//! emptied, then sleeps, then allocates. So when they run out (once per event that parked the
//! thread), and when a purge look leaves work pending (at most once per purge interval), the
//! heap is *nudged*: its current pages are put back on their lists, and its next allocation of
//! each class misses and makes the look. A busy thread pays one miss per class it uses per
//! nudge (the interval is at least 1 ms, 5 ms by default); frees stay HOT.

use super::{current, lifecycle, set_current, tick, Heap, HeapState, PARKED};
use crate::platform::{self, thread};
use crate::purge;
use crate::small::refill;

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

/// [`park`] for a page that emptied or a big block freed to its arena, at most once per purge
/// interval: a thread that empties pages often (a live set that drains), or takes and frees a
/// block above the thread cache's bound in a loop, would otherwise be parked nearly all the
/// time, each of its calls a slow one. A page that empties within the interval after a park is caught by
/// that park's calls or the nudge that ends them when they are still to come, and otherwise by
/// the heap's next slow call (a refill makes the purge look once it is due); only a thread
/// that then makes nothing but HOT calls keeps that page's memory until its next slow call.
///
/// # Safety
/// - as for [`park`], with `h` the calling thread's live heap.
#[inline]
pub unsafe fn park_at_most_once_per_interval(h: *mut Heap) {
    let now = platform::now_ms();
    // SAFETY: per the contract `h` is the calling thread's live heap.
    unsafe {
        if now >= (*h).park_after {
            (*h).park_after = now + purge::interval();
            park(h);
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
        tick::tick_due(&mut *h, now);
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
        if (*h).purge_pending || purge::deferred() {
            if (*h).park_calls > 0 {
                (*h).park_calls -= 1;
                set_current(PARKED.ptr());
            } else {
                nudge(&mut *h, platform::now_ms());
            }
        }
    }
}

/// Makes the next allocation of every class of `h` miss the HOT path, so that it looks at
/// purging (see above).
///
/// # Safety
/// - `h` is the calling thread's live heap, not parked.
pub unsafe fn nudge(h: &mut Heap, now: u64) {
    if h.state != HeapState::Live {
        return;
    }
    h.nudge_after = now + purge::interval();
    // SAFETY: per the contract the pages are ours.
    unsafe { refill::put_back_current(&mut h.small, now) };
}

/// [`nudge`], unless `h` was nudged less than a purge interval before `now`: for a purge look
/// that left work pending, which a thread allocating steadily makes once per interval.
///
/// # Safety
/// - as for [`nudge`].
pub unsafe fn nudge_at_most_once_per_interval(h: &mut Heap, now: u64) {
    if now >= h.nudge_after {
        // SAFETY: per the contract.
        unsafe { nudge(h, now) };
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
