//! The purge looks (see [`crate::purge`](mod@crate::purge) for when and why): a heap's own look at its big-block
//! cache, warm pool and segments; the shared structures' look (retired heaps that kept their
//! pages, abandoned segments, big arenas, whale ring, then the segment cache they empty into);
//! and [`purge_now`], all of it at once.

use super::{lifecycle, park, Heap, HeapState};
use crate::platform;
use crate::small::{abandon, refill, retire};
use crate::{big, learn, pressure, purge, segment, site, whale};

/// A heap's periodic look: its own caches and pages, then the shared structures.
pub fn heap_tick(h: &mut Heap, now: u64, force: bool) {
    h.big.flush(now, force);
    // SAFETY: `h` is the calling thread's heap (or the backstop under its lock).
    h.purge_pending = unsafe { retire::purge_idle(&mut h.small, now, force) };
    h.next_purge = now + purge::interval();
    global_tick(now, force);
}

/// The looks a call that is not a refill carries (a parked thread's first call, a big request
/// that missed the thread's cache): the heap's own when it is due (it also flushes the thread's
/// big-block cache, which the shared look's walk then leaves to it), else the shared
/// structures'.
pub fn tick_due(h: &mut Heap, now: u64) {
    if now >= h.next_purge {
        heap_tick(h, now, false);
    } else {
        global_tick(now, false);
    }
}

/// The shared structures' periodic look, made by whichever thread claims it first.
pub fn global_tick(now: u64, force: bool) {
    if !purge::claim_global_look(now, force) {
        return;
    }
    // Under memory pressure (a cgroup near its limit) everything shared goes back at once.
    let force = pressure::check(now) || force;
    // The learner's windows (and the knobs' lean ends under pressure) before the looks use them.
    learn::tick(now);
    lifecycle::release_kept(now, force);
    // Before the arenas' pass, which then ages what it took out of idle threads' caches.
    big::flush_idle(now, force);
    abandon::purge_abandoned(now, force);
    // Other threads' heaps whose threads wait (no purge look of their own).
    let idle = segment::idle::purge_idle(now, force);
    let big = big::purge_all(now, force);
    let whales = whale::purge(now, force);
    let samples = site::purge(now, force);
    // Last: the looks above put the segments they empty into the cache, and a forced look
    // (`malloc_trim`, `sacs::purge()`) must unmap those too, not leave them mapped until the
    // next look.
    let cached = segment::cache::purge(now, force);
    purge::set_deferred(cached || big || whales || samples || idle);
}

/// Gives back to the system, now, all the memory SACS holds free: the calling thread's empty
/// pages, pages of exited threads that were freed (their heaps' kept pages released first),
/// the free slices of other threads' heap segments, cached big blocks, empty segments, and the
/// whale ring. Live blocks are untouched.
pub fn purge_now() {
    let now = platform::now_ms();
    // Retired heaps' kept pages first, so that their segments are adopted and swept below.
    lifecycle::release_kept(now, true);
    let h = park::resolved();
    // SAFETY: the calling thread's heap is only used by this thread (a sentinel is skipped).
    unsafe {
        if (*h).state == HeapState::Live {
            let h = &mut *h;
            abandon::adopt_all(&mut h.small);
            refill::sweep_all_full(&mut h.small);
            heap_tick(h, now, true);
            return;
        }
    }
    global_tick(now, true);
}
