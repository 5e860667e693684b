//! The entry points: allocate, free, reallocate, ask a block's size. Read top to bottom.
//!
//! ```text
//! alloc(size, align)
//!  ├─ size <= 32 KiB, align <= 8 ── HOT: class by table, pop current page's free list ─ return
//!  │                                  └ empty list → heap::refill (WARM / COLD)      [cold]
//!  └─ alloc_slow: aligned requests, big (thread cache, BigCache), whale              [cold]
//!
//! free(p)
//!  ├─ page from the segment space's table (the heap's view of it)
//!  ├─ not in the space → segment map; not in a segment → whale registry, else a bad
//!  │    pointer                                                                        [cold]
//!  ├─ page owned by this thread ── HOT: push onto the page's free list ───────────── return
//!  │                                  └ page emptied or was full → heap::free::page_freed
//!  └─ other thread's page → lock-free push on its remote list; big block → thread
//!     cache or its arena (heap::free)                                                [cold]
//! ```
//!
//! The HOT paths take no lock, make no atomic read-modify-write and no system call. C
//! semantics (errno, overflow checks of `calloc`) are layered on these by the callers.

use core::ptr;

use core::sync::atomic::Ordering::Relaxed;

use crate::error::{self, Misuse};
use crate::heap::{self, Heap, HeapState};
use crate::page::{Block, Page, PageKind};
use crate::segment::{Segment, SLICE};
use crate::segment_map;
use crate::segment_space;
use crate::size_class::{self, MID_MAX, SMALL_CLASSES, WHALE_MIN};
use crate::stats::LocalCounter;
use crate::{big, platform, process, site, small, whale};

/// Largest alignment every small class gives without rounding the size (blocks are at least
/// 8-aligned, and a size that is a multiple of 16 gets 16).
const NATURAL_ALIGN: usize = 8;

/// Allocates `size` bytes aligned to `align` (a power of two). Returns null when the system has
/// no memory or the request cannot be met (size above `isize::MAX`). `size == 0` gives a unique
/// minimal block.
#[inline(always)]
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    if size <= MID_MAX && align <= NATURAL_ALIGN {
        return alloc_small(size_class::class_of(size), alloc_refill);
    }
    alloc_slow(size, align, false)
}

/// The HOT allocation of a block of small class `class`: pops the current page's free list,
/// or hands the heap and the class to `miss` (a `#[cold]` function: [`alloc_refill`], or a
/// caller's wrapper of it) when the list is empty.
#[inline(always)]
pub fn alloc_small(class: usize, miss: fn(*mut Heap, usize) -> *mut u8) -> *mut u8 {
    let heap = heap::current();
    // SAFETY: the calling thread's heap slot value; `class` is a small class (callers' tables).
    let block = unsafe { pop_counted(heap, class) };
    if !block.is_null() {
        return block;
    }
    miss(heap, class)
}

/// The C entry's HOT allocation of a tiny block of `size` bytes: the request's word, `(size +
/// 7) / 8`, indexes the heap's current pages directly (`small::Pages::c_tiny`) and its
/// counters; an empty list goes to `miss` (a `#[cold]` function) with that index and the heap.
/// (Both tables have 8-byte entries, so the index is taken as the byte offset `(size + 7) &
/// !7`: one addition and one mask serve both; [`c_tiny_class_at`] gives the class. The offset
/// comes first so that it stays in the register the size arrived in.)
#[inline(always)]
pub fn alloc_c_tiny(size: usize, miss: fn(usize, *mut Heap) -> *mut u8) -> *mut u8 {
    debug_assert!(size <= size_class::TINY_MAX);
    let offset = (size + 7) & !7;
    let heap = heap::current();
    // SAFETY: the calling thread's heap slot value (a live heap, or a sentinel whose pages are
    // all EMPTY: nothing is popped or counted then); `offset / 8` is below `C_TINY_WORDS`,
    // so both entries are within their tables.
    unsafe {
        let pages = ptr::addr_of!((*heap).small.c_tiny) as *const u8;
        let page = *(pages.add(offset) as *const *mut Page);
        let block = small::pop_page(page);
        if !block.is_null() {
            let counters = ptr::addr_of!((*heap).counters.c_tiny_allocs) as *const u8;
            (*(counters.add(offset) as *const LocalCounter)).add(1);
            return block;
        }
    }
    miss(offset, heap)
}

/// The class of the C tiny requests at byte offset `offset` of [`alloc_c_tiny`]'s tables.
#[inline]
pub fn c_tiny_class_at(offset: usize) -> usize {
    size_class::c_tiny_class_of_word(offset >> 3)
}

/// The HOT pop of every entry: a block off the current page of `slot`, counted, or null.
///
/// # Safety
/// - `heap` is the calling thread's heap or a sentinel, whose current pages are all EMPTY
///   (`pop` writes nothing then, and nothing is counted); `slot < small::SLOTS`.
#[inline(always)]
unsafe fn pop_counted(heap: *mut Heap, slot: usize) -> *mut u8 {
    debug_assert!(slot < small::SLOTS);
    // SAFETY: per the contract.
    unsafe {
        let block = small::pop(ptr::addr_of_mut!((*heap).small), slot);
        if !block.is_null() {
            (*heap).counters.allocs.get_unchecked(slot).add(1);
        }
        block
    }
}

/// [`alloc_small`] with Site Rules (`SACS_SITES`) or the heap profile; the call site
/// `site_addr` goes to the miss. `PLACE` (`SACS_SITES=on`): the heap's placement entry for the
/// site (a byte of it picks one; one add from memory, no branch) is added to the class, so the
/// block comes from the slot the site's rules chose. `COUNT` (`SACS_PROFILE`): the heap counts
/// down (a decrement, a branch) and the allocation that runs it out is a sample
/// ([`sample_instead`]); without it the miss samples and the HOT path is [`alloc_small`]'s.
#[inline(always)]
pub fn alloc_small_at<const PLACE: bool, const COUNT: bool>(
    class: usize,
    site_addr: usize,
    miss: fn(*mut Heap, usize, usize) -> *mut u8,
) -> *mut u8 {
    // (The miss takes the site before the slot: the site stays in the register it arrived in,
    // and the HOT path needs no move to keep it.)
    let heap = heap::current();
    // SAFETY: the thread's heap slot value (a live heap or a sentinel, whose `place` entries
    // are all 0); an entry is 0 or `SMALL_CLASSES`, so the slot is below `small::SLOTS`. A pop
    // succeeds only on a live heap's page, so the countdown is only written on the calling
    // thread's own heap.
    unsafe {
        let slot = if PLACE {
            class + *(*heap).place.get_unchecked(site::place_index(site_addr))
        } else {
            class
        };
        let block = pop_counted(heap, slot);
        if !block.is_null() {
            if COUNT {
                (*heap).sample_left -= 1;
                if (*heap).sample_left < 0 {
                    return sample_instead(heap, site_addr, block, slot);
                }
            }
            return block;
        }
        miss(heap, site_addr, slot)
    }
}

/// The profile's countdown ran out on `block`: the allocation is a sample instead.
#[cold]
#[inline(never)]
unsafe fn sample_instead(
    heap: *mut Heap,
    site_addr: usize,
    block: *mut u8,
    slot: usize,
) -> *mut u8 {
    // SAFETY: per the caller: `heap` is the calling thread's live heap, `block` just popped.
    unsafe { serve_as_sample(&mut *heap, site_addr, block, slot) }
}

/// Serves an allocation of `slot` as a sample of `site_addr` (from a sample page), putting back
/// `block`, the heap's block it would have had, and restarts the heap's countdown. When there is
/// no memory for a sample page, `block` serves it after all.
///
/// # Safety
/// - `h` is the calling thread's live heap; `block` was just popped off one of its current
///   pages (of `slot`, or of a larger class after a refill) and nothing was written to it.
#[link_section = ".sacs_rare"]
unsafe fn serve_as_sample(h: &mut Heap, site_addr: usize, block: *mut u8, slot: usize) -> *mut u8 {
    h.sample_left = site::interval();
    let p = site::alloc(small::class_of_slot(slot), site_addr, platform::now_ms());
    if p.is_null() {
        return block;
    }
    // SAFETY: per the contract.
    unsafe { small::unpop(block) };
    p
}

/// The miss of [`alloc_small_at`]: refills as [`alloc_refill`] does. With `SAMPLE` (Site Rules
/// without the profile's countdown) one miss in `SACS_SITES_SAMPLE_EVERY` then puts the block
/// back and is served by `site` as a sample of `site_addr` instead (after the refill, so that
/// the next allocation does not miss again). With placement on, a miss also refreshes the
/// heap's copy of the placement table when the rules changed.
#[cold]
#[inline(never)]
#[link_section = ".sacs_rare"]
pub(crate) fn alloc_refill_at<const SAMPLE: bool>(
    heap: *mut Heap,
    site_addr: usize,
    slot: usize,
) -> *mut u8 {
    // SAFETY: the value of the thread's heap slot; a live one is the calling thread's own, and
    // `alloc_refill` on it popped `block` off its current page of `slot`.
    unsafe {
        if (*heap).state != HeapState::Live {
            return alloc_refill(heap, slot);
        }
        let h = &mut *heap;
        if h.small.placing() && h.place_gen != site::placement_gen() {
            h.place_gen = site::placement(&mut h.place);
        }
        let block = alloc_refill(heap, slot);
        if !SAMPLE {
            return block;
        }
        h.sample_left -= 1;
        if h.sample_left >= 0 || block.is_null() {
            return block;
        }
        serve_as_sample(h, site_addr, block, slot)
    }
}

/// Allocates like [`alloc`], with the block's first `size` bytes zeroed. Memory fresh from the
/// system is not written again.
pub fn alloc_zeroed(size: usize, align: usize) -> *mut u8 {
    if size <= MID_MAX {
        let p = alloc(size, align);
        if !p.is_null() {
            // SAFETY: `p` is a new block of at least `size` bytes.
            unsafe { ptr::write_bytes(p, 0, size) };
        }
        return p;
    }
    alloc_slow(size, align, true)
}

/// The current page of `slot` (a class, or its long-lived set) had no free block: the WARM /
/// COLD path.
#[cold]
#[inline(never)]
pub(crate) fn alloc_refill(heap: *mut Heap, slot: usize) -> *mut u8 {
    // SAFETY: callers pass the value of the thread's heap slot (a live heap or a sentinel, all
    // valid to read); `with_heap` gives the calling thread's heap (or the locked backstop).
    unsafe {
        if (*heap).state == HeapState::Uninit {
            // A thread's first refill makes its heap, which takes shared locks.
            process::init();
        }
        let refill = |h: *mut Heap| {
            // The refill may take a new segment: the heap's view of the space follows.
            (*h).space = segment_space::view();
            heap::refill::refill(h, slot)
        };
        heap::with_heap(heap, refill, ptr::null_mut())
    }
}

/// Aligned small requests, big blocks and whales. A big block the thread freed lately comes
/// back first, through a short function: no lock, no set-up, few registers saved (a program
/// that allocates and frees a buffer of one big size in a loop pays for this path only).
#[cold]
#[inline(never)]
fn alloc_slow(size: usize, align: usize, zero: bool) -> *mut u8 {
    if size > MID_MAX && size < WHALE_MIN && align <= NATURAL_ALIGN {
        // SAFETY: the value of the thread's heap slot; `big_from_cache` uses only a live one.
        let cached = unsafe {
            heap::refill::big_from_cache(heap::current(), size_class::class_of(size), zero)
        };
        if let Some(p) = cached {
            return p;
        }
    }
    alloc_slow_uncached(size, align, zero)
}

/// [`alloc_slow`] past the thread's big-block cache.
#[cold]
#[inline(never)]
fn alloc_slow_uncached(size: usize, align: usize, zero: bool) -> *mut u8 {
    debug_assert!(align.is_power_of_two());
    if size > isize::MAX as usize {
        return ptr::null_mut();
    }
    let class = if align <= NATURAL_ALIGN {
        (size < WHALE_MIN).then(|| size_class::class_of(size))
    } else {
        size_class::class_for_aligned(size, align)
    };
    let slot = heap::current();
    if let Some(class) = class.filter(|&c| c >= SMALL_CLASSES && align > NATURAL_ALIGN) {
        // An aligned big request [`alloc_slow`] did not look for: a big block the thread freed
        // lately (a live heap exists only once the process is set up; any other heap state
        // goes the long way).
        // SAFETY: the value of the thread's heap slot; `big_from_cache` uses only a live one.
        if let Some(p) = unsafe { heap::refill::big_from_cache(slot, class, zero) } {
            return p;
        }
    }
    process::init();
    let Some(class) = class else {
        return alloc_whale(size, align, zero, false);
    };
    if class < SMALL_CLASSES {
        let p = alloc_refill(heap::current(), class);
        if zero && !p.is_null() {
            // SAFETY: a new block of `class_size(class) >= size` bytes.
            unsafe { ptr::write_bytes(p, 0, size) };
        }
        return p;
    }
    let from_heap = |h: *mut Heap| {
        // SAFETY: `with_heap` gives the calling thread's heap (or the locked backstop).
        unsafe {
            // A live heap's cache was looked at above; a heap just un-parked or made was not.
            if h != slot {
                if let Some(p) = heap::refill::big_from_cache(h, class, zero) {
                    return p;
                }
            }
            // A miss carries the purge looks (the heap's own when due: it flushes this cache),
            // and gives a stale class's block back before the arena looks for a span.
            heap::tick::tick_due(&mut *h, platform::now_ms());
            (*h).big.release_stale();
            big::alloc(class, zero, (*h).index)
        }
    };
    // SAFETY: the value of the thread's heap slot.
    unsafe { heap::with_heap(heap::current(), from_heap, ptr::null_mut()) }
}

/// Frees a block. Null is ignored; a pointer SACS did not hand out, or a detected double free,
/// is reported (a line on standard error, then an abort unless `SACS_ON_ERROR=continue`).
///
/// # Safety
/// - `p` is null or was returned by this allocator and is not used afterwards (a violation is
///   detected where cheap, never guaranteed).
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    // A block of a segment in the segment space finds its page in the space's table, through
    // the heap's view of the space (a sentinel heap's covers nothing). Null is never in it: it
    // takes the cold branch, which ignores it.
    let heap = heap::current();
    // SAFETY: the thread's heap slot value, a live heap or a sentinel, valid to read.
    match unsafe { (*heap).space.page_of(p as usize) } {
        // SAFETY: the page entry of the slice holding `p`, valid to read.
        Some(page) => unsafe { free_at_with(heap, page, p) },
        // SAFETY: the caller's contract.
        None => unsafe { free_beyond_space(heap, p) },
    }
}

/// [`free`] of a pointer outside the segment space (own-mapped segment, whale, null, foreign).
///
/// # Safety
/// - as for [`free`].
#[cold]
#[inline(never)]
unsafe fn free_beyond_space(heap: *mut Heap, p: *mut u8) {
    // SAFETY: the thread's heap slot value; only a live heap (the thread's own) is written.
    unsafe {
        if (*heap).state == HeapState::Live {
            // The heap's view may be behind the space: the next free of a block of the newer
            // segments takes the HOT path.
            (*heap).space = segment_space::view();
        }
    }
    if !segment_map::contains(p as usize) {
        return free_outside_segments(p, "free");
    }
    // SAFETY: `p` lies in a live segment.
    unsafe { free_in_segment(p) }
}

/// Whether every block this allocator returns for a request of `size` bytes aligned to `align` lies
/// in a segment, however `realloc` changed it since: small requests get a block of a small page,
/// and `realloc` keeps a block in place only when the new size is at least half the old (a whale,
/// 2 MiB or more, thus never becomes a small request; a big block that does stays in a segment).
#[inline(always)]
pub fn lies_in_segment(size: usize, align: usize) -> bool {
    size <= MID_MAX && align <= NATURAL_ALIGN
}

/// [`free`] of a block known to lie in a segment, without asking the segment map: what
/// `GlobalAlloc::dealloc` does when [`lies_in_segment`] holds for the block's layout (Rust's
/// contract: the pointer came from this allocator with that layout). The checks within the
/// segment stay (another thread's page, a big or sampled block: the slow way; an interior
/// pointer or an immediate double free: reported).
///
/// # Safety
/// - `p` lies in a live segment; otherwise as for [`free`].
#[inline(always)]
pub unsafe fn free_in_segment(p: *mut u8) {
    debug_assert!(segment_map::contains(p as usize));
    // SAFETY: `p` lies in a live segment, so its page entry is valid to read.
    unsafe { free_at(Segment::page_of(p), p) }
}

/// [`free`] of `p` whose page entry (or the segment space's [`segment_space::no_segment`]) is
/// `page`: the HOT free when the calling thread owns the page, else the slow one.
///
/// # Safety
/// - `page` is valid to read: the page entry of the span or segment slice holding `p`, or the
///   segment space's entry for no segment; otherwise as for [`free`].
#[inline(always)]
unsafe fn free_at(page: *mut Page, p: *mut u8) {
    // SAFETY: per the contract; the thread's heap slot value.
    unsafe { free_by_owner(heap::current(), page, p, "free") }
}

/// The HOT free of `p` when `heap` owns `page`, else [`free_other`] (misuse reported as `func`'s).
///
/// # Safety
/// - as for [`free_at`]; `heap` is the calling thread's heap slot value.
#[inline(always)]
unsafe fn free_by_owner(heap: *mut Heap, page: *mut Page, p: *mut u8, func: &str) {
    // SAFETY: per the contract.
    unsafe {
        if (*page).owner.load(Relaxed) == heap::owner_id(heap) {
            return free_local(heap, page, p);
        }
        free_other(p, page, heap, func)
    }
}

/// [`free_at`] with `page` loaded from memory (the segment space's table), for [`free`].
///
/// # Safety
/// - as for [`free_at`]; `heap` is the calling thread's heap slot value.
#[inline(always)]
unsafe fn free_at_with(heap: *mut Heap, page: *mut Page, p: *mut u8) {
    // The owner test compares the page's owner word in memory with the heap, one instruction
    // where the compiler gives an atomic load two (it does not fold atomic loads into other
    // instructions); on x86_64 an aligned 8-byte read is a relaxed atomic load. (Not for
    // [`free_at`]: there the page is a segment base plus an offset, which the compiler folds
    // into its loads' addresses and the asm would need added up first.)
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `page` is valid to read (the contract) and `owner` an aligned `AtomicUsize` in
    // it, read once, as `load(Relaxed)` does; the asm writes no memory and only the flags, and
    // leaves the stack alone. The label's code is the `else` branch below.
    unsafe {
        core::arch::asm!(
            "cmp qword ptr [{page} + {owner}], {heap}",
            "jne {other}",
            page = in(reg) page,
            heap = in(reg) heap::owner_id(heap),
            owner = const core::mem::offset_of!(Page, owner),
            // SAFETY: as the `else` branch below: `page` is `p`'s entry, `heap` the slot value.
            other = label { return unsafe { free_other(p, page, heap, "free") }; },
            options(nostack, readonly),
        );
        free_local(heap, page, p)
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: per the contract.
    unsafe {
        free_by_owner(heap, page, p, "free")
    }
}

/// The HOT free: push `p` onto its page's free list.
///
/// # Safety
/// - `heap` is the calling thread's live heap and owns `page`, the page entry of `p`.
#[inline(always)]
unsafe fn free_local(heap: *mut Heap, page: *mut Page, p: *mut u8) {
    // SAFETY: per the contract the page is ours and valid.
    unsafe {
        let pg = &mut *page;
        if !pg.is_block_start_owned(p) {
            return free_misuse(page, p, "free");
        }
        let head = pg.free;
        if p as *mut Block == head {
            return free_misuse(page, p, "free");
        }
        let block = p as *mut Block;
        (*block).next = head;
        pg.free = block;
        (*heap)
            .counters
            .frees
            .get_unchecked(pg.class as usize)
            .add(1);
        // One test for both "the page emptied" and "the page is on the full list": `held` is
        // the count minus one, biased negative on the full list (`page::FULL_BIAS`).
        pg.held -= 1;
        if pg.held < 0 {
            heap::free::page_freed(heap, page);
        }
    }
}

/// A free of a block on a page the calling thread does not own: a small block of another (or
/// an exited) thread, a big block, or a bad pointer.
#[cold]
#[inline(never)]
unsafe fn free_other(p: *mut u8, page: *mut Page, heap: *mut Heap, func: &str) {
    // A big block whose thread keeps it in its own cache: the common case of a program that
    // frees a buffer of a big size to allocate it again, handled before the function that
    // sorts out every other case (and saves the registers they need).
    // SAFETY: `page` is the valid page entry of `p` (or `NO_SEGMENT`, neither big nor at `p`);
    // `heap` is the calling thread's heap slot value.
    unsafe {
        if (*page).kind == PageKind::Big as u8
            && (*page).start == p
            && heap::free::free_big_to_thread_cache(heap, page)
        {
            return;
        }
        free_not_owned(p, page, heap, func)
    }
}

/// [`free_other`] of everything but a big block going to its thread's cache.
///
/// # Safety
/// - as for [`free_other`].
#[cold]
#[inline(never)]
unsafe fn free_not_owned(p: *mut u8, page: *mut Page, heap: *mut Heap, func: &str) {
    if page == segment_space::no_segment() {
        // A slice of the segment space that no segment holds: not a live block.
        return free_outside_segments(p, func);
    }
    // SAFETY: `page` is the valid page entry of `p` (the caller checked the segment map or
    // found it in the segment space); `heap` is the calling thread's heap slot value.
    unsafe {
        if (*heap).state == HeapState::Parked {
            // The thread's first call since it was parked: its real heap, and a purge look.
            // (`with_heap` gives the thread's real, live heap.)
            return heap::with_heap(heap, |h| free_by_owner(h, page, p, func), ());
        }
        let kind = (*page).kind;
        if kind == PageKind::Small as u8 && (*page).is_block_start(p) {
            heap::free::free_remote(heap, page, p);
        } else if kind == PageKind::Big as u8 && (*page).start == p {
            if !heap::free::free_big(heap, page, p) {
                error::report(func, Misuse::DoubleFree, p);
            }
        } else if kind == PageKind::Sampled as u8 {
            if !site::free(page, p, platform::now_ms()) {
                free_misuse(page, p, func);
            }
        } else {
            error::report(func, Misuse::InvalidPointer, p);
        }
    }
}

#[cold]
#[inline(never)]
fn free_misuse(page: *mut Page, p: *mut u8, func: &str) {
    // SAFETY: `page` is the page entry of `p`.
    let on_free_list = unsafe { (*page).free } as *mut u8 == p;
    error::report(
        func,
        if on_free_list {
            Misuse::DoubleFree
        } else {
            Misuse::InvalidPointer
        },
        p,
    );
}

/// A pointer outside every segment: a whale, or not ours.
#[cold]
#[inline(never)]
fn free_outside_segments(p: *mut u8, func: &str) {
    if p.is_null() {
        return;
    }
    if !whale::free(p) {
        return error::report(func, Misuse::InvalidPointer, p);
    }
    // SAFETY: the calling thread's heap slot value.
    unsafe { heap::park::park(heap::current()) };
}

/// The block size behind `p` if SACS handed it out and it is live, else `None`.
fn block_size(p: *const u8) -> Option<usize> {
    if p.is_null() {
        return None;
    }
    if !segment_map::contains(p as usize) {
        return whale::usable_size(p);
    }
    // SAFETY: `p` lies in a live segment.
    unsafe {
        let page = &*Segment::page_of(p);
        match page.kind {
            k if (k == PageKind::Small as u8 || k == PageKind::Sampled as u8)
                && page.is_block_start(p) =>
            {
                Some(page.block_size as usize)
            }
            k if k == PageKind::Big as u8 && core::ptr::eq(page.start, p) && page.used() == 1 => {
                Some(page.block_size as usize)
            }
            _ => None,
        }
    }
}

/// Bytes usable at `p` (at least what was asked for); 0 for null or a pointer not SACS's.
///
/// # Safety
/// - `p` is null or any address; a live SACS block gives its size.
pub unsafe fn usable_size(p: *const u8) -> usize {
    block_size(p).unwrap_or(0)
}

/// Whether `p` is the start of a block SACS handed out (live or, for small blocks, possibly freed:
/// freed small blocks are not distinguished without walking lists).
pub fn owns(p: *const u8) -> bool {
    block_size(p).is_some()
}

/// Resizes the block at `p` to `new_size` bytes aligned to `align`, keeping its contents up to
/// the smaller size: in place when it still fits (at most twice too big), whales by `mremap`.
/// Null `p` allocates. Null on failure (the old block intact) or for a bad pointer (reported).
///
/// # Safety
/// - as for [`free`]; `align` is the alignment `p` was allocated with.
pub unsafe fn realloc(p: *mut u8, new_size: usize, align: usize) -> *mut u8 {
    // SAFETY: the caller's contract.
    unsafe { realloc_by(p, new_size, align, |n| alloc(n, align)) }
}

/// [`realloc`] with the natural alignment, whose new block (when `p` is null or the block must
/// move) comes from `alloc(new_size)`: the C entry points' Site Rules allocation.
///
/// # Safety
/// - as for [`realloc`]; `alloc` returns null or a live block of at least its argument's size,
///   aligned naturally.
pub unsafe fn realloc_with(
    p: *mut u8,
    new_size: usize,
    alloc: impl FnOnce(usize) -> *mut u8,
) -> *mut u8 {
    // SAFETY: the caller's contract.
    unsafe { realloc_by(p, new_size, NATURAL_ALIGN, alloc) }
}

/// A whale of `size` bytes aligned to `align` (zeroed if `zero`; for `realloc` if `grown`,
/// `whale::alloc_grown`), after the shared structures' periodic look, which whales can carry.
#[cold]
#[inline(never)]
#[link_section = ".sacs_rare"]
fn alloc_whale(size: usize, align: usize, zero: bool, grown: bool) -> *mut u8 {
    heap::tick::global_tick(platform::now_ms(), false);
    if grown {
        whale::alloc_grown(size, align)
    } else {
        whale::alloc(size, align, zero)
    }
}

/// [`realloc`]'s body, with the allocation of a new block left to `alloc`.
///
/// # Safety
/// - as for [`realloc_with`], with `align` the alignment `alloc`'s blocks have.
#[inline(always)]
unsafe fn realloc_by(
    p: *mut u8,
    new_size: usize,
    align: usize,
    alloc: impl FnOnce(usize) -> *mut u8,
) -> *mut u8 {
    if p.is_null() {
        return alloc(new_size);
    }
    let Some(old) = block_size(p) else {
        error::report("realloc", Misuse::InvalidPointer, p);
        return ptr::null_mut();
    };
    if new_size <= old && (new_size >= old / 2 || old <= 64) {
        return p;
    }
    if old > MID_MAX && new_size > old && new_size < WHALE_MIN && align <= SLICE {
        // A big block (sizes between the small tiers and the whales are big blocks, in
        // slice-aligned spans) grows in place when the slices after it are free.
        // SAFETY: `p` is a big block's start (`block_size` found it), the caller's.
        if unsafe { big::grow_in_place(Segment::page_of(p), p, size_class::class_of(new_size)) } {
            return p;
        }
    }
    if old >= WHALE_MIN && new_size >= WHALE_MIN && align <= whale::LARGE_PAGE {
        // SAFETY: the caller owns the block.
        if let Some(q) = unsafe { whale::realloc(p, new_size) } {
            return q;
        }
    }
    if new_size > isize::MAX as usize {
        return ptr::null_mut();
    }
    let q = if new_size >= WHALE_MIN && align <= whale::LARGE_PAGE {
        // A block that `realloc` grows into a whale (see `whale::alloc_grown`).
        alloc_whale(new_size, align, false, true)
    } else {
        alloc(new_size)
    };
    if !q.is_null() {
        // SAFETY: both blocks are live, distinct, and at least min(old, new_size) long.
        unsafe {
            ptr::copy_nonoverlapping(p, q, old.min(new_size));
            free(p);
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size_class::class_size;

    #[test]
    fn small_blocks_round_trip() {
        let mut ptrs = std::vec::Vec::new();
        for size in [0usize, 1, 8, 24, 100, 1024, 1025, 5000, 32768] {
            let p = alloc(size, 8);
            assert!(!p.is_null());
            // SAFETY: fresh block of >= size bytes.
            unsafe {
                assert!(usable_size(p) >= size);
                ptr::write_bytes(p, 0x5A, size);
            }
            ptrs.push(p);
        }
        for p in ptrs {
            // SAFETY: blocks from alloc, freed once.
            unsafe { free(p) };
        }
    }

    #[test]
    fn class_sizes_are_usable() {
        for class in 0..size_class::CLASSES {
            let size = class_size(class);
            let p = alloc(size, 8);
            // SAFETY: fresh block.
            unsafe {
                assert_eq!(usable_size(p), size);
                *p.add(size - 1) = 1;
                free(p);
            }
        }
    }
}
