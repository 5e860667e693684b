//! Purging: giving memory SACS holds but does not use back to the system.
//!
//! Nothing runs in the background. Purging happens on the allocator's own slow paths: a thread
//! heap looks at its warm pool and segments when it refills a page and its purge deadline has
//! passed ([`heap_tick`]); the shared structures (segment cache, big arenas, whale ring) are
//! looked at by whichever thread passes a global deadline first; big arenas and the whale ring
//! also age their caches on their own operations. A thread that frees a big block or a whale
//! is parked (see [`crate::heap::park`]), so that its next call, however small, also looks.
//! [`purge`] does all of it at once (the `malloc_trim` of SACS). Delays are
//! `SACS_PURGE_DELAY_MS`, `SACS_HOT_MS`, `SACS_WARM_MS`; a thread heap lengthens its own purge
//! delay while its purged memory is faulted back soon after (see [`crate::heap::purge_delay`]).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::heap::{self, Heap, HeapState};
use crate::options::{self, Opt};
use crate::{big, os, segment, whale};

static NEXT_GLOBAL: AtomicU64 = AtomicU64::new(0);
/// Whether the shared structures (big arenas, whale ring, segment cache) hold memory that a
/// later global look may give back. Set by big and whale frees, recomputed by each global look.
static DEFERRED: AtomicBool = AtomicBool::new(false);

/// Records that a shared structure now holds memory to purge later.
#[inline]
pub fn note_deferred() {
    if !DEFERRED.load(Relaxed) {
        DEFERRED.store(true, Relaxed);
    }
}

/// Whether a later global look may have memory to give back.
#[inline]
pub fn deferred() -> bool {
    DEFERRED.load(Relaxed)
}

/// How often (ms) purging is looked at: half the shortest delay, at least 1 ms.
fn interval() -> u64 {
    let delay = options::get(Opt::PurgeDelayMs).min(options::get(Opt::HotMs)) as u64;
    (delay / 2).max(1)
}

/// A heap's periodic look: its own warm pool and segments, then the shared structures.
pub fn heap_tick(h: &mut Heap, now: u64, force: bool) {
    // SAFETY: `h` is the calling thread's heap (the refill path passes its own).
    unsafe { heap::purge_heap(h, now, force) };
    h.next_purge = now + interval();
    global_tick(now, force);
}

/// The shared structures' periodic look.
pub fn global_tick(now: u64, force: bool) {
    let next = NEXT_GLOBAL.load(Relaxed);
    if !force && now < next {
        return;
    }
    if !force
        && NEXT_GLOBAL
            .compare_exchange(next, now + interval(), Relaxed, Relaxed)
            .is_err()
    {
        return; // another thread is doing it
    }
    let cached = segment::cache::purge(now, force);
    heap::purge_abandoned(now, force);
    let big = big::purge_all(now, force);
    let whales = whale::purge(now, force);
    DEFERRED.store(cached || big || whales, Relaxed);
}

/// Gives back to the system, now, all the memory SACS holds free: the calling thread's empty
/// pages, pages of exited threads that were freed, cached big blocks, empty segments, and the
/// whale ring. Live blocks are untouched.
pub fn purge() {
    let now = os::now_ms();
    let h = heap::resolved();
    // SAFETY: the calling thread's heap is only used by this thread (a sentinel is skipped).
    unsafe {
        if (*h).state == HeapState::Live {
            heap::adopt_all(&mut *h);
            heap::sweep_all_full(&mut *h);
            heap_tick(&mut *h, now, true);
            return;
        }
    }
    global_tick(now, true);
}
