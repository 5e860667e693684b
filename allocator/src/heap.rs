//! The per-thread heap: the tiny and mid pages a thread allocates from, its warm pool of empty
//! pages, and the segments they live in; plus how heaps are born, retire and hand their pages on.
//!
//! The HOT path ([`crate::fast_path`]) only reads `current[class]` and pops its free list. When
//! that list is empty it calls [`refill`], the WARM path:
//!
//! ```text
//! refill(class)
//!  ├─ current page: take remote frees, or carve more never-used blocks
//!  ├─ partial pages of the class (pages that got blocks back while not current)
//!  ├─ a few full pages that other threads freed into (rotating sweep)
//!  ├─ warm pool: an empty page kept committed ───────── hit
//!  ├─ prefill: carve SACS_PREFILL_PAGES spans at once from the heap's segments
//!  └─ COLD: sweep all full pages, adopt an abandoned segment, reuse a cached one, or map
//! ```
//!
//! A thread's heap lives in a `const`-initialised thread-local pointer (no destructor is
//! registered with the Rust runtime, which could allocate); its retirement runs from a
//! `pthread_key` destructor ([`thread_exit`]): free pages go back to their segments, empty
//! segments to the segment cache, and segments that still hold live blocks to the global
//! abandoned list, from which the next thread that runs out of pages adopts them.

use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::lock::Lock;
use crate::options::{self, Opt};
use crate::os;
use crate::page::{self, Page, PageKind, PageList, EMPTY, IN_FULL, IN_WARM_POOL};
use crate::purge;
use crate::segment::{self, Segment, SegmentKind, SegmentList, SLICE};
use crate::size_class::SMALL_CLASSES;
use crate::stats::{LocalCounter, Stats, Tier, TierStats, GLOBAL};
use crate::{mid, tiny, tls};

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

/// Calls of a parked thread that re-park it while purging still has work (see [`park`]).
const PARK_CALLS: u8 = 8;

/// Warm-pool index of tiny pages and mid pages.
const WARM_TINY: usize = 0;
const WARM_MID: usize = 1;
/// Abandoned segments one COLD path may adopt before it maps a new segment.
const MAX_ADOPT_PER_REFILL: usize = 4;
/// Full pages looked at per refill for blocks freed by other threads.
const SWEEP_PER_REFILL: usize = 4;

/// All data for a thread-local heap.
#[repr(C)]
pub struct Heap {
    /// The page each class allocates from; [`EMPTY`] when there is none. HOT.
    pub current: [*mut Page; SMALL_CLASSES],
    /// Allocations per class (owner thread only). HOT.
    pub allocs: [LocalCounter; SMALL_CLASSES],
    /// Local frees per class (owner thread only).
    pub frees: [LocalCounter; SMALL_CLASSES],
    /// Frees of blocks of other heaps, per tier.
    pub remote_frees: [LocalCounter; 2],
    /// Pages with free blocks that are not current.
    pub partial: [PageList; SMALL_CLASSES],
    /// Pages with no free blocks at their last look.
    pub full: [PageList; SMALL_CLASSES],
    /// Empty pages kept committed for the next refill, tiny and mid.
    pub warm: [PageList; 2],
    /// Segments whose slices this heap owns.
    pub segments: SegmentList,
    /// The thread's own cache of freed big blocks.
    pub big: crate::big::LocalCache,
    /// Next time (ms) this heap looks for memory to purge.
    pub next_purge: u64,
    /// This heap's purge delay (ms) as last adapted; read through [`purge_delay`], which keeps
    /// it between `SACS_PURGE_DELAY_MS` and `SACS_WARM_MS` (0: not adapted yet).
    pub purge_delay: u64,
    /// When (ms) the oldest purge not yet judged gave memory back (0: none).
    pub purged_at: u64,
    /// The decommit time (ms) of the latest purged memory that this heap took back soon after.
    pub refaulted: u64,
    /// Small number identifying the heap (picks its big arena).
    pub index: usize,
    pub state: HeapState,
    /// Calls left that re-park the heap while purging has work pending (see [`park`]).
    pub park_calls: u8,
    /// Links in the registry of live heaps, or the pool of unused heap structures.
    pub next: *mut Heap,
    pub prev: *mut Heap,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_COUNTER: LocalCounter = LocalCounter::new();
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_LIST: PageList = PageList::new();

impl Heap {
    const fn new(state: HeapState) -> Self {
        Self {
            current: [&EMPTY.0 as *const Page as *mut Page; SMALL_CLASSES],
            allocs: [ZERO_COUNTER; SMALL_CLASSES],
            frees: [ZERO_COUNTER; SMALL_CLASSES],
            remote_frees: [ZERO_COUNTER; 2],
            partial: [EMPTY_LIST; SMALL_CLASSES],
            full: [EMPTY_LIST; SMALL_CLASSES],
            warm: [EMPTY_LIST; 2],
            segments: SegmentList::new(),
            big: crate::big::LocalCache::new(),
            next_purge: 0,
            purge_delay: 0,
            purged_at: 0,
            refaulted: 0,
            index: 0,
            state,
            park_calls: 0,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        }
    }
}

/// A heap in a `static`.
pub struct StaticHeap(core::cell::UnsafeCell<Heap>);
// SAFETY: the sentinels are never written (their pages are EMPTY, which the refill path handles
// before touching the heap); the backstop is only used under `BACKSTOP_LOCK`.
unsafe impl Sync for StaticHeap {}

impl StaticHeap {
    #[inline(always)]
    pub const fn ptr(&'static self) -> *mut Heap {
        self.0.get()
    }
}

/// The thread-local value before a thread has a heap.
pub static UNINIT: StaticHeap =
    StaticHeap(core::cell::UnsafeCell::new(Heap::new(HeapState::Uninit)));
/// The thread-local value after a thread's heap retired.
pub static DEAD: StaticHeap = StaticHeap(core::cell::UnsafeCell::new(Heap::new(HeapState::Dead)));
/// The heap exiting threads share (under [`BACKSTOP_LOCK`]).
static BACKSTOP: StaticHeap =
    StaticHeap(core::cell::UnsafeCell::new(Heap::new(HeapState::Backstop)));
static BACKSTOP_LOCK: Lock<()> = Lock::new(());
/// The thread-local value of a parked live heap (see [`park`]).
pub static PARKED: StaticHeap =
    StaticHeap(core::cell::UnsafeCell::new(Heap::new(HeapState::Parked)));

/// The calling thread's heap (possibly a sentinel).
#[inline(always)]
pub fn current() -> *mut Heap {
    tls::get()
}

// ---------------------------------------------------------------------------------------------
// Process set-up, the registry of heaps, thread exit.

static PROCESS_INIT: spin::Once<()> = spin::Once::new();
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// Live heaps (for statistics) and retired heap structures (for reuse).
struct Registry {
    live: *mut Heap,
    pool: *mut Heap,
}
// SAFETY: only accessed under its lock.
unsafe impl Send for Registry {}
static REGISTRY: Lock<Registry> = Lock::new(Registry {
    live: ptr::null_mut(),
    pool: ptr::null_mut(),
});

/// Segments of exited threads that still hold live blocks.
static ABANDONED: Lock<SegmentList> = Lock::new(SegmentList::new());

/// Process-wide set-up, once: options, fork handlers, the thread-exit key. Every path that
/// takes a shared lock (heaps, big arenas, whales) passes here first, so the fork handlers are
/// registered before any lock can be held across a `fork()`.
pub fn init_process() {
    PROCESS_INIT.call_once(|| {
        options::load();
        crate::fork::register();
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid out-parameter and `thread_exit` has the destructor signature.
        if unsafe { libc::pthread_key_create(&mut key, Some(thread_exit)) } == 0 {
            KEY.store(key as usize, Relaxed);
        }
    });
}

/// Takes a heap structure from the pool, or maps a chunk of them.
fn new_heap_struct() -> Option<*mut Heap> {
    let mut reg = REGISTRY.lock();
    if reg.pool.is_null() {
        const CHUNK: usize = 256 * 1024;
        let per_chunk = CHUNK / core::mem::size_of::<Heap>();
        let base = os::map(CHUNK, false)?.as_ptr() as *mut Heap;
        GLOBAL.mapped(CHUNK);
        for i in 0..per_chunk {
            // SAFETY: `base` holds `per_chunk` heap-sized, suitably aligned slots.
            unsafe {
                let h = base.add(i);
                h.write(Heap::new(HeapState::Live));
                (*h).next = reg.pool;
                reg.pool = h;
            }
        }
    }
    let h = reg.pool;
    // SAFETY: `h` is a pooled heap structure, unused, guarded by the registry lock.
    unsafe {
        reg.pool = (*h).next;
        h.write(Heap::new(HeapState::Live));
        (*h).next = reg.live;
        if !reg.live.is_null() {
            (*reg.live).prev = h;
        }
        reg.live = h;
    }
    Some(h)
}

/// Gives the calling thread a heap, or the backstop if the thread is exiting. Returns the heap
/// and whether it is the backstop (whose lock the caller must then hold: see [`with_heap`]).
#[cold]
fn make_heap() -> *mut Heap {
    init_process();
    let Some(h) = new_heap_struct() else {
        return ptr::null_mut();
    };
    // SAFETY: `h` is a fresh heap structure that only this thread knows.
    unsafe {
        (*h).index = NEXT_INDEX.fetch_add(1, Relaxed);
        // Look at purging on the first refill: short-lived threads do their share too.
        (*h).next_purge = 0;
        (*h).purge_delay = 0;
        (*h).purged_at = 0;
        (*h).refaulted = 0;
    }
    GLOBAL.heaps_created.add(1);
    // Set the thread-local first: pthread_setspecific may allocate for high key numbers, and that
    // allocation must find this heap.
    tls::set(h);
    let key = KEY.load(Relaxed);
    if key != usize::MAX {
        // SAFETY: `key` was created by pthread_key_create.
        unsafe { libc::pthread_setspecific(key as libc::pthread_key_t, h as *const libc::c_void) };
    }
    h
}

/// Runs `f` with a real heap for the calling thread: its own (made on first use) or, for a
/// thread whose heap already retired, the shared backstop under its lock.
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
            let h = unsafe { unpark() };
            let r = f(h);
            // SAFETY: `h` is the calling thread's live heap.
            unsafe { repark(h) };
            r
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parking: purging on the next call of an idle thread.
//
// SACS has no background thread, so memory freed and then left alone is given back on a later
// call. Slow paths look at the clock; the HOT paths must not (they would pay for it on every
// call). A thread that has just deferred a purge (freed a big block or a whale) is *parked*:
// its slot holds the `PARKED` sentinel, whose current pages are all EMPTY and which owns no
// page, so its next allocation or free misses the HOT path at no cost to it. That slow call
// puts the real heap back, reads the coarse clock and runs the purge looks that are due. While
// purging still has work pending it parks the thread again, for at most `PARK_CALLS` calls
// after the free that parked it: a program that goes idle right after freeing is caught on its
// first call after the pause, and a busy one pays at most that many slow calls per big free.

/// Parks the calling thread's heap `h` (see above) if it is live and a key can find it again.
///
/// # Safety
/// - `h` is the calling thread's heap as [`current`] returns it (a live heap or a sentinel).
#[inline]
pub unsafe fn park(h: *mut Heap) {
    // SAFETY: sentinels and live heaps are valid to read; a live heap is only ours.
    unsafe {
        if (*h).state == HeapState::Live && KEY.load(Relaxed) != usize::MAX {
            (*h).park_calls = PARK_CALLS;
            tls::set(PARKED.ptr());
        }
    }
}

/// The calling thread's live heap while its slot holds `PARKED`.
fn parked_heap() -> *mut Heap {
    // SAFETY: the key exists (`park` checked) and holds this thread's live heap.
    unsafe { libc::pthread_getspecific(KEY.load(Relaxed) as libc::pthread_key_t) as *mut Heap }
}

/// Un-parks the calling thread and runs the purge looks that are due. Returns its live heap.
///
/// # Safety
/// - the calling thread's slot holds `PARKED`.
#[cold]
#[inline(never)]
pub unsafe fn unpark() -> *mut Heap {
    let h = parked_heap();
    tls::set(h);
    let now = os::now_ms();
    // SAFETY: `h` is the calling thread's live heap.
    unsafe {
        if now >= (*h).next_purge {
            purge::heap_tick(&mut *h, now, false);
        } else {
            purge::global_tick(now, false);
        }
    }
    h
}

/// Parks `h` again if purging still has work and the calls allowed since the last big free
/// are not used up.
///
/// # Safety
/// - `h` is the calling thread's live heap.
#[inline]
pub unsafe fn repark(h: *mut Heap) {
    // SAFETY: per the contract.
    unsafe {
        if (*h).park_calls > 0 && purge::deferred() {
            (*h).park_calls -= 1;
            tls::set(PARKED.ptr());
        }
    }
}

/// The calling thread's heap with a parked heap resolved to the live one (without un-parking).
pub fn resolved() -> *mut Heap {
    let h = current();
    // SAFETY: sentinels and live heaps are valid to read.
    if unsafe { (*h).state } == HeapState::Parked {
        parked_heap()
    } else {
        h
    }
}

/// The pthread key destructor: retires the exiting thread's heap.
unsafe extern "C" fn thread_exit(arg: *mut libc::c_void) {
    let heap = arg as *mut Heap;
    if heap.is_null() {
        return;
    }
    tls::set(DEAD.ptr());
    // SAFETY: `heap` is this thread's live heap; the thread-local no longer points to it, so no
    // allocation of this thread reaches it again.
    unsafe {
        abandon(heap);
        retire_struct(heap);
    }
}

/// Adds the heap's counters to the global ones and returns its structure to the pool.
///
/// # Safety
/// - `heap` is a live heap no thread uses any more.
unsafe fn retire_struct(heap: *mut Heap) {
    let mut reg = REGISTRY.lock();
    // SAFETY: `heap` is on the live list, guarded by the registry lock.
    unsafe {
        flush_counters(&*heap);
        let (prev, next) = ((*heap).prev, (*heap).next);
        if prev.is_null() {
            reg.live = next;
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
        (*heap).state = HeapState::Dead;
        (*heap).next = reg.pool;
        reg.pool = heap;
    }
    GLOBAL.heaps_retired.add(1);
}

/// The heap's own counters: allocations and frees of the tiny, mid and big tiers, and big
/// blocks served from its own cache.
fn own_counts(h: &Heap) -> ([TierStats; 3], u64) {
    let mut t = [TierStats::default(); 3];
    for class in 0..SMALL_CLASSES {
        let tier = if tiny::is_tiny(class) {
            Tier::Tiny
        } else {
            Tier::Mid
        } as usize;
        t[tier].allocs += h.allocs[class].get();
        t[tier].frees += h.frees[class].get();
    }
    for (tier, remote) in h.remote_frees.iter().enumerate() {
        t[tier].frees += remote.get();
    }
    t[Tier::Big as usize].allocs += h.big.allocs.get();
    t[Tier::Big as usize].frees += h.big.frees.get();
    (t, h.big.hits.get())
}

/// Moves a retiring heap's counters into the global ones.
fn flush_counters(h: &Heap) {
    let (tiers, big_hits) = own_counts(h);
    for (i, t) in tiers.iter().enumerate() {
        GLOBAL.tier_allocs[i].add(t.allocs);
        GLOBAL.tier_frees[i].add(t.frees);
    }
    GLOBAL.big_cache_hits.add(big_hits);
    let counters = h
        .allocs
        .iter()
        .chain(h.frees.iter())
        .chain(h.remote_frees.iter());
    for c in counters.chain([&h.big.allocs, &h.big.frees, &h.big.hits]) {
        c.reset();
    }
}

/// Adds the counters of live heaps (and the backstop) to `s`.
pub fn add_live_heap_counters(s: &mut Stats) {
    let add = |s: &mut Stats, h: &Heap| {
        let (tiers, big_hits) = own_counts(h);
        for (i, t) in tiers.iter().enumerate() {
            s.tiers[i].allocs += t.allocs;
            s.tiers[i].frees += t.frees;
        }
        s.big_cache_hits += big_hits;
    };
    let reg = REGISTRY.lock();
    let mut h = reg.live;
    while !h.is_null() {
        // SAFETY: live heaps stay valid while the registry lock is held; counters are atomics.
        unsafe {
            add(s, &*h);
            h = (*h).next;
        }
    }
    // SAFETY: the backstop is a static; its counters are atomics.
    add(s, unsafe { &*BACKSTOP.ptr() });
}

// ---------------------------------------------------------------------------------------------
// The WARM path.

/// Finds a page of `class` with a free block, makes it current and pops a block from it.
/// Returns null only when the system has no memory.
///
/// # Safety
/// - `heap` is the calling thread's real heap (or the backstop with its lock held).
pub unsafe fn refill(heap: *mut Heap, class: usize) -> *mut u8 {
    // SAFETY: per the contract, `heap` and its pages are ours.
    unsafe {
        let h = &mut *heap;
        let mut page = h.current[class];
        if page != EMPTY.ptr() {
            let p = &mut *page;
            if p.free.is_null() && collect(p) == 0 && !p.extend() {
                // Exhausted: unpin and park it with the full pages.
                p.used -= 1;
                p.flags |= IN_FULL;
                h.full[class].push_back(page);
                h.current[class] = EMPTY.ptr();
                page = find_page(h, class);
                if page.is_null() {
                    return ptr::null_mut();
                }
            }
        } else {
            page = find_page(h, class);
            if page.is_null() {
                return ptr::null_mut();
            }
        }
        let p = &mut *page;
        debug_assert!(!p.free.is_null());
        let block = p.free;
        p.free = (*block).next;
        p.used += 1;
        h.allocs[class].add(1);
        block as *mut u8
    }
}

/// Finds a page for `class` that has a free block, pins it as current and returns it.
unsafe fn find_page(h: &mut Heap, class: usize) -> *mut Page {
    let now = os::now_ms();
    if now >= h.next_purge {
        purge::heap_tick(h, now, false);
    }
    // SAFETY: every page reached here belongs to `h`.
    unsafe {
        let page = take_partial(h, class)
            .or_else(|| sweep_full(h, class, SWEEP_PER_REFILL))
            .or_else(|| new_page(h, class, now));
        let Some(page) = page else {
            return ptr::null_mut();
        };
        let p = &mut *page;
        if p.free.is_null() && collect(p) == 0 {
            p.extend();
        }
        debug_assert!(!p.free.is_null());
        p.used += 1; // the pin
        h.current[class] = page;
        page
    }
}

/// Takes the blocks other threads freed onto `p`'s free list, counting the collection.
#[inline]
fn collect(p: &mut Page) -> u32 {
    let n = p.collect_remote();
    if n > 0 {
        GLOBAL.remote_collects.add(1);
    }
    n
}

/// A partial page of `class` with room, if any.
unsafe fn take_partial(h: &mut Heap, class: usize) -> Option<*mut Page> {
    while let Some(page) = h.partial[class].pop_front() {
        // SAFETY: partial pages belong to `h`.
        let p = unsafe { &mut *page };
        collect(p);
        if !p.free.is_null() || p.can_extend() {
            return Some(page);
        }
        p.flags |= IN_FULL;
        // SAFETY: the page was just unlinked.
        unsafe { h.full[class].push_back(page) };
    }
    None
}

/// Looks at up to `limit` full pages of `class` (oldest first, rotating) for blocks other
/// threads freed; returns the first page that got some back.
unsafe fn sweep_full(h: &mut Heap, class: usize, limit: usize) -> Option<*mut Page> {
    let list = &mut h.full[class];
    for _ in 0..limit.min(list.len) {
        let page = list.pop_front()?;
        // SAFETY: full pages belong to `h`.
        let p = unsafe { &mut *page };
        if collect(p) > 0 {
            p.flags &= !IN_FULL;
            return Some(page);
        }
        // SAFETY: the page was just unlinked.
        unsafe { list.push_back(page) };
    }
    None
}

/// Collects remote frees on every full page of every class: pages that came back entirely
/// are retired, pages with room move to the partial lists. Done before mapping new memory.
///
/// # Safety
/// - `h` is the calling thread's heap (or the backstop under its lock).
pub unsafe fn sweep_all_full(h: &mut Heap) {
    for class in 0..SMALL_CLASSES {
        let mut page = h.full[class].head;
        while !page.is_null() {
            // SAFETY: full pages belong to `h`; `next` is read before the page is relinked.
            unsafe {
                let next = (*page).next;
                if collect(&mut *page) > 0 {
                    h.full[class].remove(page);
                    (*page).flags &= !IN_FULL;
                    if (*page).used == 0 {
                        retire_page(h, page);
                    } else {
                        h.partial[class].push_back(page);
                    }
                }
                page = next;
            }
        }
    }
}

/// Warm-pool index and span length of the pages of `class`.
#[inline]
fn page_shape(class: usize) -> (usize, usize) {
    if tiny::is_tiny(class) {
        (WARM_TINY, tiny::PAGE_SLICES)
    } else {
        (WARM_MID, mid::PAGE_SLICES)
    }
}

/// A fresh page for `class`: from the warm pool, after a prefill, or after the COLD path.
unsafe fn new_page(h: &mut Heap, class: usize, now: u64) -> Option<*mut Page> {
    let (pool, slices) = page_shape(class);
    if h.warm[pool].is_empty() {
        if !prefill(h, pool, slices, now) {
            // SAFETY: `h` is the caller's heap.
            unsafe { cold(h, pool, slices, now)? };
        }
    } else {
        // Only a page that was waiting in the pool is a hit; one just prefilled is not.
        GLOBAL.warm_pool_hits.add(1);
    }
    let page = h.warm[pool].pop_front()?;
    // SAFETY: warm-pool pages are empty spans of `h`'s segments.
    unsafe {
        let p = &mut *page;
        p.init(
            PageKind::Small,
            class,
            p.start,
            slices * SLICE,
            h as *mut Heap as usize,
        );
    }
    Some(page)
}

/// Carves up to `SACS_PREFILL_PAGES` spans of `slices` slices from the heap's segments into
/// warm pool `pool`. Returns whether it carved any.
fn prefill(h: &mut Heap, pool: usize, slices: usize, now: u64) -> bool {
    let want = options::get(Opt::PrefillPages).max(1);
    let mut got = 0;
    let mut seg = h.segments.head;
    while got < want && !seg.is_null() {
        // SAFETY: the heap's segments are valid and owned by this thread.
        let s = unsafe { &mut *seg };
        match s.take_span_purged(slices) {
            Some((page, purged)) => {
                note_refault(h, purged, now);
                // SAFETY: a new span of our own segment.
                unsafe {
                    (*page).kind = PageKind::Small as u8;
                    (*page).class = 0;
                    (*page).flags |= IN_WARM_POOL;
                    (*page).retired_at = now;
                    (*page).owner.store(h as *mut Heap as usize, Relaxed);
                    h.warm[pool].push_back(page);
                }
                got += 1;
            }
            None => seg = s.next,
        }
    }
    if got > 0 {
        GLOBAL.warm_pool_prefills.add(1);
    }
    got > 0
}

/// The COLD path: fills warm pool `pool` after sweeping every full page (which may free whole
/// pages), by adopting abandoned segments, taking one from the segment cache, or mapping one.
/// Returns `None` when the system has no memory.
unsafe fn cold(h: &mut Heap, pool: usize, slices: usize, now: u64) -> Option<()> {
    // SAFETY: `h` is the caller's heap.
    unsafe { sweep_all_full(h) };
    let mut adopted = 0;
    loop {
        if !h.warm[pool].is_empty() || prefill(h, pool, slices, now) {
            return Some(());
        }
        // Adopt a few abandoned segments, but do not take over every fragmented one in search
        // of a long free run: after that, map.
        // SAFETY: as above.
        if adopted < MAX_ADOPT_PER_REFILL && unsafe { adopt_one(h) } {
            adopted += 1;
            continue;
        }
        let Some(seg) =
            segment::cache::take(SegmentKind::Heap).or_else(|| segment::map_new(SegmentKind::Heap))
        else {
            if options::get(Opt::Verbose) != 0 {
                os::write_stderr(b"sacs: out of memory: could not map a segment\n");
            }
            return None;
        };
        // SAFETY: the segment is empty and ours alone.
        unsafe {
            (*seg).owner.store(h as *mut Heap as usize, Relaxed);
            h.segments.push_front(seg);
        }
    }
}

/// Adopts one abandoned segment (if any) into `h`. Returns whether it did.
unsafe fn adopt_one(h: &mut Heap) -> bool {
    let Some(seg) = ABANDONED.lock().pop_front() else {
        return false;
    };
    GLOBAL.segments_adopted.add(1);
    let me = h as *mut Heap as usize;
    // SAFETY: an abandoned segment has no owner; taking it off the list makes it ours.
    unsafe {
        let s = &mut *seg;
        s.owner.store(me, Relaxed);
        h.segments.push_front(seg);
        let mut i = 1;
        while i < segment::SLICES {
            let page = s.pages.as_mut_ptr().add(i);
            let p = &mut *page;
            let n = p.slices.max(1) as usize;
            if p.slices > 0 && p.kind == PageKind::Small as u8 {
                p.owner.store(me, Relaxed);
                p.collect_remote();
                let class = p.class as usize;
                if p.used == 0 {
                    // Back to the segment, which stays ours (releasing the segment here could
                    // unmap it under this loop).
                    p.flags = 0;
                    s.give_span(page, true, os::now_ms());
                } else if !p.free.is_null() || p.can_extend() {
                    p.flags = 0;
                    h.partial[class].push_back(page);
                } else {
                    p.flags = IN_FULL;
                    h.full[class].push_back(page);
                }
            }
            i += n;
        }
    }
    true
}

/// Abandons every page of `heap`: free pages go back to their segments, empty segments to the
/// cache, the rest to the abandoned list.
///
/// # Safety
/// - `heap` is a live heap that no thread will use again.
pub unsafe fn abandon(heap: *mut Heap) {
    let now = os::now_ms();
    // SAFETY: per the contract, `heap` and everything it owns are ours.
    unsafe {
        let h = &mut *heap;
        h.big.flush(now, true);
        for class in 0..SMALL_CLASSES {
            let cur = h.current[class];
            if cur != EMPTY.ptr() {
                (*cur).used -= 1;
                h.partial[class].push_front(cur);
                h.current[class] = EMPTY.ptr();
            }
            for list in [0, 1] {
                loop {
                    let page = if list == 0 {
                        h.partial[class].pop_front()
                    } else {
                        h.full[class].pop_front()
                    };
                    let Some(page) = page else { break };
                    let p = &mut *page;
                    p.collect_remote();
                    p.flags = 0;
                    if p.used == 0 {
                        release_span(h, page, now);
                    } else {
                        p.owner.store(0, Relaxed);
                    }
                }
            }
        }
        for pool in [WARM_TINY, WARM_MID] {
            while let Some(page) = h.warm[pool].pop_front() {
                (*page).flags = 0;
                release_span(h, page, now);
            }
        }
        let mut abandoned = 0;
        while let Some(seg) = h.segments.pop_front() {
            if (*seg).is_empty() {
                segment::cache::put(seg, now);
            } else {
                (*seg).purge_if_due(now, false);
                (*seg).owner.store(0, Relaxed);
                ABANDONED.lock().push_back(seg);
                abandoned += 1;
            }
        }
        GLOBAL.segments_abandoned.add(abandoned);
    }
    purge::global_tick(now, false);
}

// ---------------------------------------------------------------------------------------------
// Frees that need more than a push.

/// A local free left `page` with no blocks out, or hit a page on the full list.
///
/// # Safety
/// - `page` belongs to `heap`, the calling thread's heap, and is not current.
#[cold]
#[inline(never)]
pub unsafe fn page_freed_slow(heap: *mut Heap, page: *mut Page) {
    // SAFETY: per the contract.
    unsafe {
        let h = &mut *heap;
        let p = &mut *page;
        let class = p.class as usize;
        if p.flags & IN_FULL != 0 {
            h.full[class].remove(page);
            p.flags &= !IN_FULL;
            if p.used != 0 {
                h.partial[class].push_front(page);
                return;
            }
        } else {
            h.partial[class].remove(page);
        }
        retire_page(h, page);
    }
}

/// Moves an empty page (on no list) into the warm pool, releasing the oldest warm page when the
/// pool is over `SACS_WARM_POOL_PAGES`.
unsafe fn retire_page(h: &mut Heap, page: *mut Page) {
    // SAFETY: the page is ours and on no list.
    unsafe {
        let p = &mut *page;
        debug_assert!(p.used == 0 && !p.has_remote());
        let (pool, _) = page_shape(p.class as usize);
        p.flags = IN_WARM_POOL;
        // No block of a retired page is live: a late free of one is caught as a bad pointer.
        p.free = ptr::null_mut();
        p.extended = 0;
        p.carved_bytes = 0;
        let now = os::now_ms();
        p.retired_at = now;
        h.warm[pool].push_front(page);
        if h.warm[pool].len > options::get(Opt::WarmPoolPages) {
            if let Some(old) = h.warm[pool].pop_back() {
                (*old).flags = 0;
                release_span(h, old, now);
            }
        }
    }
}

/// Gives a page's span back to its segment (dirty); an emptied segment goes to the cache.
///
/// # Safety
/// - `page` is an empty span of one of `h`'s segments, on no list.
pub unsafe fn release_span(h: &mut Heap, page: *mut Page, now: u64) {
    let seg = Segment::of(page as *const u8);
    // SAFETY: the segment is one of `h`'s.
    unsafe {
        (*seg).give_span(page, true, now);
        if (*seg).is_empty() {
            h.segments.remove(seg);
            segment::cache::put(seg, now);
        }
    }
}

/// Pushes `block` onto its page's remote list and counts the free for the calling thread.
///
/// # Safety
/// - `block` is a live block of `page`, a small page that `heap` does not own.
#[inline(never)]
pub unsafe fn free_remote(heap: *mut Heap, page: *mut Page, block: *mut u8) {
    // SAFETY: per the contract.
    unsafe {
        (*page).push_remote(block as *mut page::Block);
        let tier = if tiny::is_tiny((*page).class as usize) {
            0
        } else {
            1
        };
        if (*heap).state == HeapState::Live {
            (*heap).remote_frees[tier].add(1);
        } else {
            GLOBAL.tier_frees[tier].add(1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Purging (called by `purge`).

// The adaptive purge delay. Purging memory that is needed again soon after costs a page fault
// per 4 KiB on the way back (a program that builds and drops a large working set in phases
// a few tens of milliseconds apart pays this on every phase), while keeping it costs only
// resident memory. So each heap adapts its delay, on slow paths only: when `prefill` takes
// back slices that were decommitted less than `SACS_WARM_MS` ago, the heap's delay doubles
// (at most once per purge, up to `SACS_WARM_MS`); when a purge of this heap's has gone
// `SACS_WARM_MS` without any of its memory being taken back, the delay halves (down to
// `SACS_PURGE_DELAY_MS`). The delay applies to the heap's warm pool and to its segments' dirty
// slices. Abandoned and cached segments keep `SACS_PURGE_DELAY_MS`.

/// Upper bound of a heap's purge delay, and the window (ms) in which a re-commit counts as a
/// re-fault of purged memory.
fn purge_delay_cap(base: u64) -> u64 {
    (options::get(Opt::WarmMs) as u64).max(base)
}

/// The heap's current purge delay (ms): `SACS_PURGE_DELAY_MS`, lengthened while its purges are
/// faulted back soon after.
pub fn purge_delay(h: &Heap) -> u64 {
    let base = options::get(Opt::PurgeDelayMs) as u64;
    h.purge_delay.clamp(base, purge_delay_cap(base))
}

/// A span `prefill` just took had slices decommitted at `purged` (ms; 0: none): if that was
/// less than the window ago, and this purge has not lengthened the delay already, lengthens the
/// heap's delay: doubles it, or more if the memory's idle time was longer.
fn note_refault(h: &mut Heap, purged: u64, now: u64) {
    if purged == 0 || purged <= h.refaulted {
        return;
    }
    let cap = purge_delay_cap(options::get(Opt::PurgeDelayMs) as u64);
    if now.saturating_sub(purged) >= cap {
        return;
    }
    h.refaulted = purged;
    // Had the delay been longer than the memory's whole idle time (the delay it waited, then
    // `now - purged`), it would have stayed committed: jump there at once when that is more
    // than doubling.
    let delay = purge_delay(h);
    // `purged` may be a little later than `now` (another thread stamped it after our clock read).
    let raised = (delay.max(1) * 2)
        .max(delay + now.saturating_sub(purged))
        .min(cap);
    if raised > h.purge_delay {
        h.purge_delay = raised;
        GLOBAL.purge_delay_raised.add(1);
    }
}

/// After a purge look that gave back `bytes`: halves the delay when the oldest purge not yet
/// judged is a window old and none of its memory was taken back, then starts judging this one.
fn judge_purges(h: &mut Heap, now: u64, bytes: usize) {
    if h.purged_at != 0 {
        let base = options::get(Opt::PurgeDelayMs) as u64;
        if now.saturating_sub(h.purged_at) >= purge_delay_cap(base) {
            if h.refaulted < h.purged_at && h.purge_delay > base {
                h.purge_delay = (purge_delay(h) / 2).max(base);
                GLOBAL.purge_delay_lowered.add(1);
            }
            h.purged_at = 0;
        }
    }
    if bytes > 0 && h.purged_at == 0 {
        h.purged_at = now.max(1);
    }
}

/// Releases warm-pool pages older than the heap's purge delay (all with `force`) and decommits
/// the heap's segments whose purge deadline, lengthened as [`purge_delay`] says, passed.
///
/// # Safety
/// - `h` is the calling thread's heap.
pub unsafe fn purge_heap(h: &mut Heap, now: u64, force: bool) {
    h.big.flush(now, force);
    let delay = purge_delay(h);
    let extra = delay.saturating_sub(options::get(Opt::PurgeDelayMs) as u64);
    for pool in [WARM_TINY, WARM_MID] {
        loop {
            let old = h.warm[pool].tail;
            if old.is_null() {
                break;
            }
            // SAFETY: warm pages are ours.
            let retired_at = unsafe { (*old).retired_at };
            if !(force || now.saturating_sub(retired_at) >= delay) {
                break;
            }
            h.warm[pool].pop_back();
            // SAFETY: just unlinked; empty.
            unsafe {
                (*old).flags = 0;
                release_span(h, old, now);
            }
        }
    }
    let mut bytes = 0;
    let mut seg = h.segments.head;
    while !seg.is_null() {
        // SAFETY: the heap's segments are ours.
        unsafe {
            bytes += (*seg).purge_if_due_after(now, force, extra);
            seg = (*seg).next;
        }
    }
    if !force {
        judge_purges(h, now, bytes);
    }
}

/// With `force`: adopts every abandoned segment into `h` so that their free pages can be
/// released (used by `purge()`).
///
/// # Safety
/// - `h` is the calling thread's heap.
pub unsafe fn adopt_all(h: &mut Heap) {
    // SAFETY: per the contract.
    while unsafe { adopt_one(h) } {}
}

/// Decommits the dirty free slices of abandoned segments whose purge deadline passed (all of
/// them with `force`): their owners are gone, so no heap tick would reach them.
pub fn purge_abandoned(now: u64, force: bool) {
    let list = ABANDONED.lock();
    let mut seg = list.head;
    while !seg.is_null() {
        // SAFETY: abandoned segments are only touched under the lock (adopters pop them first).
        unsafe {
            (*seg).purge_if_due(now, force);
            seg = (*seg).next;
        }
    }
}

/// The backstop's lock, for the fork handlers.
pub fn locks_for_fork() -> [&'static Lock<()>; 1] {
    [&BACKSTOP_LOCK]
}

/// The registry's lock, for the fork handlers.
pub fn registry_lock_for_fork() -> &'static Lock<impl Sized> {
    &REGISTRY
}

/// The abandoned list's lock, for the fork handlers.
pub fn abandoned_lock_for_fork() -> &'static Lock<impl Sized> {
    &ABANDONED
}

/// Checks the calling thread's heap: every page's counts agree with its lists, pages are on the
/// list their flags say, every free block lies on a block boundary of its page.
#[cfg(feature = "validate")]
pub fn validate_current() {
    let heap = resolved();
    // SAFETY: the calling thread's heap is only touched by this thread.
    unsafe {
        if (*heap).state != HeapState::Live {
            return;
        }
        let h = &*heap;
        for class in 0..SMALL_CLASSES {
            let check = |page: *mut Page, pinned: bool| {
                let p = &*page;
                assert_eq!(p.class as usize, class, "page on the wrong class list");
                assert_eq!(
                    p.owner.load(Relaxed),
                    heap as usize,
                    "page not owned by its heap"
                );
                let free = page::list_len(p.free, p.capacity);
                let mut b = p.free;
                while !b.is_null() {
                    assert!(
                        p.is_block_start(b as *const u8),
                        "free block off a block boundary"
                    );
                    b = (*b).next;
                }
                let out = p.used - pinned as u32;
                assert!(
                    free + out <= p.extended,
                    "more blocks than carved: free {free} out {out}"
                );
            };
            if h.current[class] != EMPTY.ptr() {
                check(h.current[class], true);
            }
            for (list, full) in [(&h.partial[class], false), (&h.full[class], true)] {
                let mut page = list.head;
                let mut n = 0;
                while !page.is_null() {
                    assert_eq!(
                        (*page).flags & IN_FULL != 0,
                        full,
                        "IN_FULL flag disagrees with the list"
                    );
                    check(page, false);
                    page = (*page).next;
                    n += 1;
                }
                assert_eq!(n, list.len);
            }
        }
        let mut seg = h.segments.head;
        while !seg.is_null() {
            let s = &*seg;
            assert_eq!(s.owner.load(Relaxed), heap as usize);
            assert_eq!(s.free_slices & 1, 0, "header slice marked free");
            assert_eq!(s.dirty_slices & !s.free_slices, 0, "dirty slice in use");
            seg = s.next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast_path;
    use std::vec::Vec;

    #[test]
    fn a_thread_gets_a_heap_on_first_use_and_retires_it_at_exit() {
        let retired = GLOBAL.heaps_retired.get();
        let (heap, state) = std::thread::spawn(|| {
            assert_eq!(current(), UNINIT.ptr());
            let p = fast_path::alloc(40, 8);
            let h = current();
            // SAFETY: from alloc; the heap is this thread's.
            unsafe {
                fast_path::free(p);
                (h as usize, (*h).state)
            }
        })
        .join()
        .unwrap();
        assert_ne!(heap, UNINIT.ptr() as usize);
        assert_eq!(state, HeapState::Live);
        assert!(
            GLOBAL.heaps_retired.get() > retired,
            "the pthread key destructor retired it"
        );
    }

    #[test]
    fn pages_of_an_exited_thread_are_adopted_and_their_blocks_freed() {
        // Read first: another test's thread may adopt the segments before this one does.
        let adopted = GLOBAL.segments_adopted.get();
        // The thread exits holding blocks: its segments are abandoned with live blocks.
        let blocks: Vec<usize> = std::thread::spawn(|| {
            (0..2000)
                .map(|i| fast_path::alloc(16 + i % 700, 8) as usize)
                .collect()
        })
        .join()
        .unwrap();
        for &b in &blocks {
            // SAFETY: live blocks of the exited thread, freed once (remote frees).
            unsafe { fast_path::free(b as *mut u8) };
        }
        // `adopt_all` (what `purge()` does) takes over whatever is still abandoned.
        std::thread::spawn(|| {
            let h = current();
            let p = fast_path::alloc(64, 8);
            // SAFETY: the heap is this thread's own; `p` from alloc.
            unsafe {
                adopt_all(&mut *current());
                fast_path::free(p);
                let _ = h;
            }
        })
        .join()
        .unwrap();
        assert!(GLOBAL.segments_adopted.get() > adopted);
    }

    #[test]
    fn refill_moves_through_pages_and_counts_allocations() {
        std::thread::spawn(|| {
            // More 1 KiB blocks than one 64 KiB page holds: the current page is exhausted, parked
            // as full, and a new page comes from the warm pool.
            let blocks: Vec<*mut u8> = (0..300).map(|_| fast_path::alloc(1024, 8)).collect();
            let h = current();
            let class = crate::size_class::class_of(1024);
            // SAFETY: this thread's heap.
            unsafe {
                assert!((*h).full[class].len >= 3, "pages were filled and parked");
                assert_eq!((*h).allocs[class].get(), 300);
                for &b in &blocks {
                    fast_path::free(b);
                }
                assert_eq!(
                    (*h).full[class].len,
                    0,
                    "a local free takes a page off the full list"
                );
                assert_eq!((*h).frees[class].get(), 300);
            }
        })
        .join()
        .unwrap();
    }
}
