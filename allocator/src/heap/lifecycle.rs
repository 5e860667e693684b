//! How heaps are born and retire: the thread-exit key, the pool of heap structures, giving a
//! thread its heap on first use, retiring it at thread exit, and the backstop heap that threads
//! use after their own heap retired (allocations from other keys' destructors).
//!
//! **Handover.** A heap that retires keeps its pages: it goes to the pool whole, stamped with
//! `kept_since`, its pages still owned by it (other threads' frees land on their remote lists,
//! as for any heap not theirs). The next thread that needs a heap takes the most recently
//! retired structure (the pool is a stack) and, when it kept its pages, takes them over as they
//! are: no abandoning, adopting or purging in between, the memory a replaced thread leaves is
//! in use again at once. Its pages' free tails are trimmed first when the exiting thread left
//! most of what they carved free (`small::retire::trim`, at most once per purge delay), so that
//! a heap does not keep the sum of every past thread's high-water marks. A kept heap that no
//! thread takes within the abandoned segments' purge delay (`SACS_PURGE_DELAY_MS` and what it
//! has learned, `purge::abandoned_extra`) is released by the shared purge look
//! ([`release_kept`]): its pages are abandoned as they once were at thread exit
//! (`small::abandon`). `sacs::purge()` releases them all.

use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::{park, set_current, Heap, HeapState, StaticHeap, DEAD};
use crate::lock::{Lock, SleepLock};
use crate::options::{self, Opt};
use crate::page::Tail;
use crate::platform::{self, thread};
use crate::purge;
use crate::small;
use crate::stats::{self, GLOBAL};

/// Threads that retire from one heap, each faster than the heap's purge delay after the last
/// trim, between two trims of its free page tails (the upper half of each; see
/// `thread_exit`): a heap handed on thousands of times a second halves the free tails of its
/// pages every 16 hand-overs (docs/benchmarks.md, "Page tails that decay").
const TRIM_EVERY_RETIRED: u64 = 16;

/// The thread-exit key (`usize::MAX`: none), whose value is each thread's live heap.
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);
static INIT: crate::lock::Once<()> = crate::lock::Once::new();
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// Heap structures for reuse, linked through `next`: retired heaps that kept their pages, the
/// most recently retired first, and blank ones; then the untouched rest of the newest chunk,
/// `carve .. carve_end`, handed out a slot at a time so that a process with one thread touches
/// one heap's pages of the 256 KiB chunk, not all of them.
struct Pool {
    kept: *mut Heap,
    blank: *mut Heap,
    carve: *mut Heap,
    carve_end: *mut Heap,
}
/// Heaps in the pool that kept their pages (a hint: [`release_kept`] skips the walk at 0).
static KEPT: AtomicUsize = AtomicUsize::new(0);
// SAFETY: only accessed under its lock.
unsafe impl Send for Pool {}
static POOL: Lock<Pool> = Lock::new(Pool {
    kept: ptr::null_mut(),
    blank: ptr::null_mut(),
    carve: ptr::null_mut(),
    carve_end: ptr::null_mut(),
});

/// The heap exiting threads share (under [`BACKSTOP_LOCK`]).
static BACKSTOP: StaticHeap =
    StaticHeap(core::cell::UnsafeCell::new(Heap::new(HeapState::Backstop)));
/// Held across a whole refill of the backstop, which may map memory: a sleeping lock, so that
/// other exiting threads wait in the kernel rather than spin through the system call.
static BACKSTOP_LOCK: SleepLock<()> = SleepLock::new(());

/// The heap layer's set-up, once: the thread-exit key, and the backstop's counters in the
/// statistics.
pub fn init() {
    INIT.call_once(|| {
        if let Some(key) = thread::key_create(thread_exit) {
            KEY.store(key as usize, Relaxed);
        }
        // SAFETY: the backstop is a static, never retired.
        unsafe { stats::register(ptr::addr_of_mut!((*BACKSTOP.ptr()).counters)) };
    });
}

/// The thread-exit key, if it could be created.
#[inline]
pub(super) fn key() -> Option<thread::Key> {
    let key = KEY.load(Relaxed);
    (key != usize::MAX).then_some(key as thread::Key)
}

/// Takes a heap structure from the pool: the most recently retired heap that kept its pages,
/// else a blank one, else an untouched slot of the newest chunk, mapping a chunk (outside the
/// lock) when there is none. A slot fresh from a chunk is all zero, as a blank heap is (zeroed
/// when it went to the pool), which reads as `kept_since` 0; `make_heap` makes either live.
fn new_heap_struct() -> Option<*mut Heap> {
    const CHUNK: usize = 256 * 1024;
    let per_chunk = CHUNK / core::mem::size_of::<Heap>();
    loop {
        {
            let mut guard = POOL.lock();
            let pool = &mut *guard;
            for list in [&mut pool.kept, &mut pool.blank] {
                let h = *list;
                if !h.is_null() {
                    // SAFETY: `h` is a pooled heap structure, unused, guarded by the lock.
                    *list = unsafe { (*h).next };
                    return Some(h);
                }
            }
            if pool.carve < pool.carve_end {
                let h = pool.carve;
                // SAFETY: `carve` and `carve_end` bound untouched slots of one chunk.
                pool.carve = unsafe { h.add(1) };
                return Some(h);
            }
        }
        let base = platform::map(CHUNK, false)?.as_ptr() as *mut Heap;
        let mut pool = POOL.lock();
        if pool.carve < pool.carve_end {
            // Another thread installed a chunk meanwhile: use its slots, give this one back.
            drop(pool);
            // SAFETY: the mapping was just made and nothing refers to it.
            unsafe { platform::unmap(base as *mut u8, CHUNK) };
            continue;
        }
        GLOBAL.mapped(CHUNK);
        pool.carve = base;
        // SAFETY: `base` holds `per_chunk` heap-sized, suitably aligned slots.
        pool.carve_end = unsafe { base.add(per_chunk) };
    }
}

/// Gives the calling thread a heap: a retired heap's pages taken over, or a new one. Returns
/// null when the system has no memory.
#[cold]
fn make_heap() -> *mut Heap {
    init();
    let Some(h) = new_heap_struct() else {
        return ptr::null_mut();
    };
    // SAFETY: `h` is a heap structure off the pool that only this thread knows.
    unsafe {
        if (*h).kept_since != 0 {
            // Its pages, lists, warm pool and purge state are as its last thread left them;
            // its big-block cache was flushed and its counters folded at retirement.
            KEPT.fetch_sub(1, Relaxed);
            (*h).kept_since = 0;
            (*h).state = HeapState::Live;
            (*h).park_calls = 0;
            // Blocks freed into its full pages while it waited (by the threads that inherited
            // its blocks) come back now, before the new thread takes fresh pages.
            small::refill::sweep_all_full(&mut (*h).small);
            GLOBAL.heaps_taken_over.add(1);
        } else {
            // A structure off the pool that kept no pages is all zero (a fresh slot of a chunk,
            // or a blank one, zeroed when it went there): only its fields that are not zero
            // are written (`Heap::init_zeroed_live`), so the pages of lists and counters it has
            // not used yet stay untouched. (Not `Heap::new` written in place: that is built on
            // the stack first, 17.5 KiB, pages of a new thread's stack that would each fault.)
            Heap::init_zeroed_live(h);
            (*h).index = NEXT_INDEX.fetch_add(1, Relaxed);
            (*h).small.relabel_after = crate::site::relabel_after();
            (*h).small.purge_delay = crate::purge::PurgeDelay::inherited();
            // `next_purge` 0: look at purging on the first refill; short-lived threads do their
            // share too.
        }
        (*h).sample_left = crate::site::interval();
        (*h).big.set_limit();
        stats::register(ptr::addr_of_mut!((*h).counters));
    }
    GLOBAL.heaps_created.add(1);
    // Set the thread-local first: pthread_setspecific may allocate for high key numbers, and that
    // allocation must find this heap.
    set_current(h);
    if let Some(key) = key() {
        thread::key_set(key, h.cast());
    }
    h
}

/// Runs `f` with a real heap for the calling thread: its own (made on first use, un-parked if
/// parked) or, for a thread whose heap already retired, the shared backstop under its lock.
/// Returns `fail` when no heap can be made.
///
/// # Safety
/// - `heap` is the value of the calling thread's heap slot.
#[inline]
pub unsafe fn with_heap<R>(heap: *mut Heap, f: impl FnOnce(*mut Heap) -> R, fail: R) -> R {
    // SAFETY: the sentinels and live heaps are valid to read.
    let state = unsafe { (*heap).state };
    match state {
        HeapState::Live => f(heap),
        HeapState::Uninit => {
            let h = make_heap();
            if h.is_null() {
                fail
            } else {
                f(h)
            }
        }
        HeapState::Dead | HeapState::Backstop => {
            let _g = BACKSTOP_LOCK.lock();
            f(BACKSTOP.ptr())
        }
        HeapState::Parked => {
            // SAFETY: the slot holds PARKED, so the thread has a live heap in the key.
            let h = unsafe { park::unpark() };
            let r = f(h);
            // SAFETY: `h` is the calling thread's live heap.
            unsafe { park::repark(h) };
            r
        }
    }
}

/// The pthread key destructor: retires the exiting thread's heap.
unsafe extern "C" fn thread_exit(arg: *mut core::ffi::c_void) {
    let heap = arg as *mut Heap;
    if heap.is_null() {
        return;
    }
    set_current(DEAD.ptr());
    let now = platform::now_ms();
    // SAFETY: `heap` is this thread's live heap; the thread-local no longer points to it, so no
    // allocation of this thread reaches it again.
    unsafe {
        let h = &mut *heap;
        // Off the shared purge look's list first: once off, no walk looks at the cache, so the
        // flush below gives back every block (walks in progress elsewhere or not).
        h.big.leave();
        h.big.flush_unlisted(now, true);
        h.small.purge_delay.hand_on();
        // The heap is kept for the next thread as it is, but not the high-water marks of every
        // thread before: free page tails are given back, whole once a purge delay has passed
        // since the last trim, the upper half at every `TRIM_EVERY_RETIRED`th thread when
        // threads retire faster than that (the tails then decay instead of staying).
        h.small.retired_since_trim += 1;
        let rested = now.saturating_sub(h.small.trimmed_at) >= h.small.purge_delay.current();
        if rested || h.small.retired_since_trim >= TRIM_EVERY_RETIRED {
            h.small.trimmed_at = now;
            h.small.retired_since_trim = 0;
            let tail = if rested { Tail::Whole } else { Tail::Half };
            small::retire::trim(&mut h.small, tail);
        }
        h.kept_since = now.max(1);
        retire_struct(heap);
        super::tick::global_tick(now, false);
    }
}

/// Releases the pages of pooled heaps that kept them for longer than the abandoned segments'
/// purge delay (all of them with `force`): abandons them (see the module's doc). Called by the
/// shared purge look; the pool's lock is not held while pages are abandoned.
pub fn release_kept(now: u64, force: bool) {
    if KEPT.load(Relaxed) == 0 {
        return;
    }
    let wait = options::get(Opt::PurgeDelayMs) as u64 + purge::abandoned_extra();
    while let Some(h) = take_stale(now, force, wait) {
        // SAFETY: off the pool, the heap is ours alone, and no thread uses it.
        unsafe {
            small::abandon::abandon(&mut (*h).small, now);
            // Blank: zero, as a fresh slot is, for `make_heap`.
            ptr::write_bytes(h, 0, 1);
            let mut pool = POOL.lock();
            (*h).next = pool.blank;
            pool.blank = h;
        }
    }
}

/// Takes off the pool a heap that has kept its pages for `wait` ms by `now` (any with `force`).
fn take_stale(now: u64, force: bool, wait: u64) -> Option<*mut Heap> {
    let mut pool = POOL.lock();
    let mut link: *mut *mut Heap = &mut pool.kept;
    // SAFETY: pooled heap structures are only touched under the lock; `link` points at the
    // list's head or at a pooled heap's `next`.
    unsafe {
        while !(*link).is_null() {
            let h = *link;
            if force || now >= (*h).kept_since.saturating_add(wait) {
                *link = (*h).next;
                KEPT.fetch_sub(1, Relaxed);
                return Some(h);
            }
            link = ptr::addr_of_mut!((*h).next);
        }
    }
    None
}

/// Folds the heap's counters into the global ones and returns its structure to the pool: to the
/// heaps that kept their pages when `kept_since` is set, else to the blank ones.
///
/// # Safety
/// - `heap` is a live heap that no thread uses any more.
unsafe fn retire_struct(heap: *mut Heap) {
    // SAFETY: per the contract.
    unsafe {
        stats::retire(ptr::addr_of_mut!((*heap).counters));
        (*heap).state = HeapState::Dead;
        let mut pool = POOL.lock();
        if (*heap).kept_since != 0 {
            KEPT.fetch_add(1, Relaxed);
            (*heap).next = pool.kept;
            pool.kept = heap;
        } else {
            drop(pool);
            // Blank: zero, as a fresh slot is, for `make_heap` (not under the pool's lock).
            ptr::write_bytes(heap, 0, 1);
            let mut pool = POOL.lock();
            (*heap).next = pool.blank;
            pool.blank = heap;
        }
    }
    GLOBAL.heaps_retired.add(1);
}

/// The locks of this file, in the fork handlers' order: the backstop, then the pool.
pub(crate) fn locks_for_fork() -> (&'static SleepLock<()>, &'static Lock<impl Sized>) {
    (&BACKSTOP_LOCK, &POOL)
}
