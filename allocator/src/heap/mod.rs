//! The per-thread heap: what a thread allocates from, and how a thread gets one and gives it up.
//!
//! A [`Heap`] holds a thread's small-object pages ([`crate::small::Pages`], first, so that the
//! HOT path's `current[class]` is at the heap's own address), its counters, its cache of freed
//! big blocks, and its purge deadline. The work on pages is the small tier's; the heap decides
//! when it happens and for whom:
//!
//! | file | what it does |
//! | --- | --- |
//! | this file | the heap type, its sentinels, the thread-local slot |
//! | [`lifecycle`] | start-up, the pool of heap structures, thread exit, the backstop heap |
//! | [`refill`] | the WARM path of a small class and the thread's big-block cache |
//! | [`free`] | frees that need more than a push: pages that empty, other heaps' blocks, big blocks |
//! | [`park`] | parking: purging on the next call of a thread that freed a big block |
//! | [`tick`] | the purge looks of a heap and of the shared structures, and `sacs::purge()` |
//!
//! A thread's heap lives in the initial-exec TLS slot ([`crate::platform::tls`]; no destructor
//! is registered with the Rust runtime, which could allocate); its retirement runs from a
//! `pthread_key` destructor ([`lifecycle`]).

pub mod free;
pub mod lifecycle;
pub mod park;
pub mod refill;
pub mod tick;

use core::cell::UnsafeCell;
use core::ptr;

use crate::big::LocalCache;
use crate::platform::tls;
use crate::segment_space;
use crate::site::PLACE_ENTRIES;
use crate::small::Pages;
use crate::stats::HeapCounters;

pub use lifecycle::with_heap;

/// Which kind of heap a [`Heap`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HeapState {
    /// The thread-local initial value: the thread has no heap yet.
    Uninit = 0,
    /// The thread-local value after the thread's heap retired (the thread is exiting).
    Dead = 1,
    /// A thread's heap.
    Live = 2,
    /// The shared heap, used under a lock by exiting threads.
    Backstop = 3,
    /// The thread-local value of a live heap whose next call should look at purging (see
    /// [`park`]): every HOT path misses on it, and the slow path finds the real heap.
    Parked = 4,
}

/// All data for a thread-local heap.
#[repr(C)]
pub struct Heap {
    /// The thread's small-object pages; first, so that a page's owner word (the address of its
    /// `Pages`) is the heap's address. HOT (`small.current`).
    pub small: Pages,
    /// Allocations and frees, read by `sacs::stats()`. HOT (`allocs`, `frees`).
    pub counters: HeapCounters,
    /// The thread's own cache of freed big blocks.
    pub big: LocalCache,
    /// Next time (ms) this heap looks for memory to purge.
    pub next_purge: u64,
    /// Site Rules' placement table (`SACS_SITES=on`): by the low byte of a `malloc` call site,
    /// the offset from a class to the slot its blocks go to: 0 (ordinary pages) or
    /// `SMALL_CLASSES` (long-lived pages). A copy of `site::placement`, refreshed on a miss when
    /// the rules changed; all zero unless placement is on. HOT there.
    pub place: [usize; PLACE_ENTRIES],
    /// The generation of the rules `place` was copied from.
    pub place_gen: u32,
    /// The sampling countdown: misses of the HOT allocation before Site Rules' next sample,
    /// or, with the heap profile, `malloc`s before its next sample (HOT there).
    pub sample_left: isize,
    /// Small number identifying the heap (picks its big arena).
    pub index: usize,
    pub state: HeapState,
    /// Calls left that re-park the heap while purging has work pending (see [`park`]).
    pub park_calls: u8,
    /// The heap's own pages hold memory to purge later (warm pages or dirty slices): set when a
    /// page empties, refreshed by each purge look.
    pub purge_pending: bool,
    /// Earliest time (ms) of the heap's next nudge (see [`park::nudge`]).
    pub nudge_after: u64,
    /// Earliest time (ms) at which an emptied page parks the heap again (see
    /// [`park::park_at_most_once_per_interval`]).
    pub park_after: u64,
    /// A retired heap whose pages were kept for the next thread (see `lifecycle`): when it
    /// retired (ms); 0 otherwise.
    pub kept_since: u64,
    /// Where the segment space is and how much of it the heap has seen used: the HOT free's
    /// bounds (`fast_path::free`), refreshed on refills and on frees beyond it.
    pub space: segment_space::View,
    /// Link in the pool of unused heap structures.
    next: *mut Heap,
}

const _: () = assert!(core::mem::offset_of!(Heap, small) == 0);

impl Heap {
    const fn new(state: HeapState) -> Self {
        Self {
            small: Pages::new(),
            counters: HeapCounters::new(),
            big: LocalCache::new(),
            next_purge: 0,
            place: [0; PLACE_ENTRIES],
            place_gen: 0,
            sample_left: 0,
            index: 0,
            state,
            park_calls: 0,
            purge_pending: false,
            nudge_after: 0,
            park_after: 0,
            kept_since: 0,
            space: segment_space::View::NONE,
            next: ptr::null_mut(),
        }
    }

    /// Makes the zeroed heap structure at `h` what `Heap::new(HeapState::Live)` is, writing only
    /// the fields whose value is not zero: every slot's current page is the empty page, the
    /// big-block cache has its byte limit, the state is live. The pages of a fresh structure
    /// that hold nothing else (lists, counters, the placement table) stay untouched until the
    /// heap uses them, and no prototype is read.
    ///
    /// # Safety
    /// - `h` is valid for writes of a `Heap` and every byte of it is zero (a zeroed `Heap` is a
    ///   valid one: null pointers, zero counts, `Uninit`, `false`).
    pub unsafe fn init_zeroed_live(h: *mut Heap) {
        let empty = &crate::page::EMPTY.0 as *const crate::page::Page as *mut crate::page::Page;
        // SAFETY: per the contract the structure is a valid (zeroed) heap only we reach.
        let h = unsafe { &mut *h };
        for slot in h.small.current.iter_mut() {
            *slot = empty;
        }
        for slot in h.small.c_tiny.iter_mut() {
            *slot = empty;
        }
        h.big.init_zeroed();
        h.state = HeapState::Live;
    }
}

/// A heap in a `static`.
pub struct StaticHeap(UnsafeCell<Heap>);
// SAFETY: the sentinels are never written (their pages are EMPTY, which the refill path handles
// before touching the heap, and their state sends every slow path elsewhere); the backstop is
// only used under its lock; the prototypes new heaps are copied from (`lifecycle`) are only read.
unsafe impl Sync for StaticHeap {}

impl StaticHeap {
    #[inline(always)]
    pub const fn ptr(&'static self) -> *mut Heap {
        self.0.get()
    }
}

/// The thread-local value before a thread has a heap.
pub static UNINIT: StaticHeap = StaticHeap(UnsafeCell::new(Heap::new(HeapState::Uninit)));
/// The thread-local value after a thread's heap retired.
pub static DEAD: StaticHeap = StaticHeap(UnsafeCell::new(Heap::new(HeapState::Dead)));
/// The thread-local value of a parked live heap (see [`park`]).
pub static PARKED: StaticHeap = StaticHeap(UnsafeCell::new(Heap::new(HeapState::Parked)));

// Every thread's slot starts as `UNINIT`'s address.
tls::define_slot!(UNINIT);

/// What the slot holds for `heap`: its address, or, where the slot starts as zero rather than
/// as [`UNINIT`], its address XOR `UNINIT`'s (so that zero reads as `UNINIT`).
#[inline(always)]
fn slot_value(heap: *mut Heap) -> usize {
    if tls::STARTS_AT_INITIAL {
        heap as usize
    } else {
        heap as usize ^ UNINIT.ptr() as usize
    }
}

/// The calling thread's heap (possibly a sentinel): a load from the TLS slot, no decoding.
#[inline(always)]
pub fn current() -> *mut Heap {
    // `slot_value` is its own inverse.
    slot_value(tls::get() as *mut Heap) as *mut Heap
}

/// Sets the calling thread's heap.
#[inline]
fn set_current(heap: *mut Heap) {
    tls::set(slot_value(heap));
}

/// The owner word of `heap`'s pages: what a page's `owner` holds when the heap owns it.
#[inline(always)]
pub fn owner_id(heap: *mut Heap) -> usize {
    // `small` is at offset 0 (asserted above): the id is the heap's address, no arithmetic.
    heap as usize
}

/// Checks the calling thread's heap: every page's counts agree with its lists, pages are on the
/// list their flags say, every free block lies on a block boundary of its page.
#[cfg(feature = "validate")]
pub fn validate_current() {
    let heap = park::resolved();
    // SAFETY: the calling thread's heap is only touched by this thread.
    unsafe {
        if (*heap).state == HeapState::Live {
            crate::small::validate(&(*heap).small);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_thread_starts_at_uninit() {
        let (heap, state) = std::thread::spawn(|| {
            let heap = current();
            // SAFETY: the slot's value before the thread allocated: a sentinel, valid to read.
            (heap as usize, unsafe { (*heap).state })
        })
        .join()
        .unwrap();
        assert_eq!(heap, UNINIT.ptr() as usize);
        assert!(state == HeapState::Uninit);
    }

    #[test]
    fn a_zeroed_structure_made_live_is_a_new_live_heap() {
        let layout = std::alloc::Layout::new::<Heap>();
        // SAFETY: two zeroed heap-sized buffers of this test, compared field by field, then freed.
        unsafe {
            let made = std::alloc::alloc_zeroed(layout) as *mut Heap;
            let new = std::alloc::alloc_zeroed(layout) as *mut Heap;
            assert!(!made.is_null() && !new.is_null());
            Heap::init_zeroed_live(made);
            new.write(Heap::new(HeapState::Live));
            // Field by field (the padding between fields is not compared: a write of the whole
            // value may copy anything there); no field has padding of its own. The macro also
            // destructures `Heap` with every field it names, so that a field added to `Heap`
            // must be listed here too.
            macro_rules! same {
                ($($field:ident),*) => {
                    let Heap { $($field: _),* } = &*made;
                    $(
                        let a = core::ptr::addr_of!((*made).$field);
                        let b = core::ptr::addr_of!((*new).$field);
                        let len = core::mem::size_of_val(&*a);
                        assert!(
                            core::slice::from_raw_parts(a as *const u8, len)
                                == core::slice::from_raw_parts(b as *const u8, len),
                            "Heap::new(Live).{} is not what init_zeroed_live makes",
                            stringify!($field)
                        );
                    )*
                };
            }
            same!(
                small,
                counters,
                big,
                next_purge,
                place,
                place_gen,
                sample_left,
                index,
                state,
                park_calls,
                purge_pending,
                nudge_after,
                park_after,
                kept_since,
                space,
                next
            );
            std::alloc::dealloc(made as *mut u8, layout);
            std::alloc::dealloc(new as *mut u8, layout);
        }
    }
}
