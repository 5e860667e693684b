//! The thread heaps' own counters: [`HeapCounters`], written by their thread only with
//! [`LocalCounter`]s (the HOT paths add to them), and the list of live heaps' counters that a
//! snapshot adds up ([`register`], [`retire`], `add_live`).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{Stats, Tier, GLOBAL};
use crate::list::List;
use crate::lock::Lock;
use crate::size_class::{
    c_tiny_class_of_word, class_size, C_TINY_WORDS, SMALL_CLASSES, TINY_CLASSES,
};

/// A counter updated by one thread (its owner) and read by any: relaxed load + store, so the
/// update is an ordinary add on the owner's cache line, never a locked instruction.
#[derive(Default)]
pub struct LocalCounter(AtomicU64);

impl LocalCounter {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
    /// Adds `n`; only the owning thread may call it.
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
    pub fn reset(&self) {
        self.0.store(0, Relaxed);
    }
}

/// The counters of one thread heap, written by its thread only ([`LocalCounter`]s) and read by
/// [`stats`](super::stats()) from any thread. The HOT paths add to `allocs` and `frees`.
#[repr(C)]
pub struct HeapCounters {
    /// Allocations per slot: per small class from its ordinary pages, then (at
    /// `SMALL_CLASSES + class`) from its long-lived pages (Site Rules' placement). HOT.
    pub allocs: [LocalCounter; 2 * SMALL_CLASSES],
    /// Allocations of the C entry's tiny HOT path, per C tiny word (see `fast_path`). HOT.
    pub c_tiny_allocs: [LocalCounter; C_TINY_WORDS],
    /// Local frees per small class. HOT.
    pub frees: [LocalCounter; SMALL_CLASSES],
    /// Frees of small blocks of other heaps, per small class.
    pub remote_frees: [LocalCounter; SMALL_CLASSES],
    /// Big allocations served, and big frees kept, by the thread's own big-block cache, and
    /// their bytes.
    pub big_cache_allocs: LocalCounter,
    pub big_cache_frees: LocalCounter,
    pub big_cache_alloc_bytes: LocalCounter,
    pub big_cache_free_bytes: LocalCounter,
    /// Links in the list of live heaps' counters.
    next: *mut HeapCounters,
    prev: *mut HeapCounters,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_COUNTER: LocalCounter = LocalCounter::new();

impl HeapCounters {
    /// All zero, on no list.
    pub const fn new() -> Self {
        Self {
            allocs: [ZERO_COUNTER; 2 * SMALL_CLASSES],
            c_tiny_allocs: [ZERO_COUNTER; C_TINY_WORDS],
            frees: [ZERO_COUNTER; SMALL_CLASSES],
            remote_frees: [ZERO_COUNTER; SMALL_CLASSES],
            big_cache_allocs: LocalCounter::new(),
            big_cache_frees: LocalCounter::new(),
            big_cache_alloc_bytes: LocalCounter::new(),
            big_cache_free_bytes: LocalCounter::new(),
            next: core::ptr::null_mut(),
            prev: core::ptr::null_mut(),
        }
    }

    /// Counts a free of a small block of another heap.
    #[inline]
    pub fn remote_free(&self, class: usize) {
        self.remote_frees[class].add(1);
    }

    /// Adds these counters to `s`: allocations and frees of the tiny, mid and big tiers, with
    /// their bytes (derived from the per-class counts, so the HOT paths count no bytes; added
    /// modulo 2^64 into `in_use_bytes`, since one heap may free what another allocated), and
    /// big blocks served from the thread's own cache.
    fn add_to(&self, s: &mut Stats) {
        for class in 0..SMALL_CLASSES {
            let t = &mut s.tiers[small_tier(class) as usize];
            let long = self.allocs[SMALL_CLASSES + class].get();
            let allocs = self.allocs[class].get() + long;
            let frees = self.frees[class].get() + self.remote_frees[class].get();
            let size = class_size(class) as u64;
            t.allocs += allocs;
            t.frees += frees;
            t.in_use_bytes = t
                .in_use_bytes
                .wrapping_add(allocs.wrapping_sub(frees).wrapping_mul(size));
            s.site_long_allocs += long;
        }
        for (word, c) in self.c_tiny_allocs.iter().enumerate() {
            let t = &mut s.tiers[Tier::Tiny as usize];
            let size = class_size(c_tiny_class_of_word(word)) as u64;
            t.allocs += c.get();
            t.in_use_bytes = t.in_use_bytes.wrapping_add(c.get().wrapping_mul(size));
        }
        let big = &mut s.tiers[Tier::Big as usize];
        big.allocs += self.big_cache_allocs.get();
        big.frees += self.big_cache_frees.get();
        big.in_use_bytes = big.in_use_bytes.wrapping_add(
            self.big_cache_alloc_bytes
                .get()
                .wrapping_sub(self.big_cache_free_bytes.get()),
        );
        s.big_cache_hits += self.big_cache_allocs.get();
    }

    /// Moves the counters into [`GLOBAL`] and zeroes them.
    fn flush(&self) {
        let mut s = Stats::default();
        self.add_to(&mut s);
        for (i, t) in s.tiers.iter().enumerate() {
            GLOBAL.tier_allocs[i].add(t.allocs);
            GLOBAL.tier_frees[i].add(t.frees);
            GLOBAL.tier_bytes[i].add(t.in_use_bytes);
        }
        GLOBAL.big_cache_hits.add(s.big_cache_hits);
        GLOBAL.site_long_allocs.add(s.site_long_allocs);
        let per_class = self
            .allocs
            .iter()
            .chain(&self.c_tiny_allocs)
            .chain(&self.frees)
            .chain(&self.remote_frees);
        let big = [
            &self.big_cache_allocs,
            &self.big_cache_frees,
            &self.big_cache_alloc_bytes,
            &self.big_cache_free_bytes,
        ];
        for c in per_class.chain(big) {
            c.reset();
        }
    }
}

impl Default for HeapCounters {
    fn default() -> Self {
        Self::new()
    }
}

crate::list::linked_by_fields!(HeapCounters);

/// The tier of small class `class`.
#[inline]
pub fn small_tier(class: usize) -> Tier {
    if class < TINY_CLASSES {
        Tier::Tiny
    } else {
        Tier::Mid
    }
}

/// Counters of live heaps (and the backstop), which [`stats`](super::stats()) adds to the global ones.
static LIVE: Lock<List<HeapCounters>> = Lock::new(List::new());

/// Starts adding `counters` to every snapshot.
///
/// # Safety
/// - `counters` stays valid and on no other list until [`retire`].
pub unsafe fn register(counters: *mut HeapCounters) {
    // SAFETY: per the contract; the list is guarded by its lock.
    unsafe { LIVE.lock().push_front(counters) };
}

/// Folds `counters` into [`GLOBAL`] and stops reading them (their heap retired).
///
/// # Safety
/// - `counters` was registered and is no longer updated by any thread.
pub unsafe fn retire(counters: *mut HeapCounters) {
    let mut live = LIVE.lock();
    // SAFETY: a registered entry is on the list, guarded by the lock; folding under the lock
    // means a concurrent snapshot sees the counts either here or in GLOBAL, never twice.
    unsafe {
        (*counters).flush();
        live.remove(counters);
    }
}

/// Adds the counters of live heaps to `s`.
pub(in crate::stats) fn add_live(s: &mut Stats) {
    let live = LIVE.lock();
    let mut c = live.head;
    while !c.is_null() {
        // SAFETY: registered counters stay valid while on the list; their fields are atomics.
        unsafe {
            (*c).add_to(s);
            c = (*c).next;
        }
    }
}

/// The live-counters lock, for the fork handlers.
pub(crate) fn lock_for_fork() -> &'static Lock<impl Sized> {
    &LIVE
}
