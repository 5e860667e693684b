//! The C allocation API's semantics, on top of the Rust entry points ([`crate::alloc`],
//! [`crate::free`], …): what `malloc`, `calloc`, `realloc`, `reallocarray`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc`, `pvalloc` and `malloc_usable_size` promise a C
//! program on glibc. The `preload` crate only
//! forwards to these, so unit tests reach every rule here.
//!
//! - `malloc(0)` returns a unique pointer (a minimal block); `free(NULL)` does nothing.
//! - Failure returns NULL with `errno = ENOMEM`; `calloc` and `reallocarray` check `n * size`
//!   for overflow.
//! - `realloc(NULL, n)` is `malloc(n)`; `realloc(p, 0)` frees `p` and returns NULL, as glibc does.
//! - `posix_memalign` returns `EINVAL` for an alignment that is not a power of two multiple of
//!   `sizeof(void *)`, leaving `*out` untouched; `aligned_alloc` returns NULL with `EINVAL` for
//!   one that is not a power of two; `memalign` rounds such an alignment up, like glibc.
//! - In validation builds every entry point checks that the thread is not already inside SACS
//!   ([`Reentry`]): SACS never allocates, so that would mean it called itself.
//! - Every block of more than 8 bytes is 16-byte aligned, as glibc's are: the size is rounded
//!   up to a multiple of 16 before the class lookup (a class of such a size is 16-aligned). C
//!   code relies on this beyond what the size alone requires, e.g. `malloc(sizeof(struct with
//!   a long double) + n)` for a flexible array member. Requests of 1 – 8 bytes get 8.

use core::ffi::c_void;
use core::ptr;

use crate::error::{self, Misuse};
use crate::fast_path;
use crate::heap::Heap;
use crate::platform::tls::Reentry;
use crate::platform::{self, set_errno, EINVAL, ENOMEM, OS_PAGE};
use crate::site;
use crate::size_class::{self, c_size, MID_MAX, TINY_MAX};

/// `p`, with `errno` set to `ENOMEM` when it is null (an allocation that failed).
#[inline(always)]
fn enomem_if_null(p: *mut u8) -> *mut u8 {
    if p.is_null() {
        set_errno(ENOMEM);
    }
    p
}

/// Allocates, setting `errno` to `ENOMEM` on failure.
#[inline(always)]
fn alloc_or_enomem(size: usize, align: usize) -> *mut c_void {
    enomem_if_null(fast_path::alloc(size, align)).cast()
}

/// `malloc`.
#[inline(always)]
pub fn malloc(size: usize) -> *mut c_void {
    malloc_at(size, 0)
}

/// `malloc` called from the code address `site` (the caller's return address, captured by the
/// preload library's entry points; 0 when unknown), with Site Rules off: the site is not used.
#[inline(always)]
pub fn malloc_at(size: usize, site: usize) -> *mut c_void {
    let _guard = Reentry::enter("malloc");
    let _ = site;
    // Two copies of the HOT pop, one per table, so the tiny path takes no extra branch.
    if size <= TINY_MAX {
        return fast_path::alloc_c_tiny(size, refill_c_tiny_or_enomem).cast();
    }
    if size <= MID_MAX {
        return fast_path::alloc_small(size_class::mid_class(size), refill_or_enomem).cast();
    }
    malloc_large(size)
}

/// `malloc` with Site Rules in observe mode (`SACS_SITES=observe`): what the preload library's
/// `malloc` enters when so chosen at load. Its HOT path is [`malloc_at`]'s; the call site goes to
/// the miss, which samples. Requests above 32 KiB are not sampled; big ones learn their site's
/// reuse gap (`site::big`).
#[inline(always)]
pub fn malloc_at_sites(size: usize, site: usize) -> *mut c_void {
    malloc_at_site_rules::<false, false>(size, site)
}

/// `malloc` with Site Rules placing (`SACS_SITES=on`): [`malloc_at_sites`], plus the site's
/// placement on the HOT path (two instructions: see `fast_path::alloc_small_at`).
#[inline(always)]
pub fn malloc_at_placed(size: usize, site: usize) -> *mut c_void {
    malloc_at_site_rules::<true, false>(size, site)
}

/// `malloc` with the heap profile (`SACS_PROFILE`): samples by a countdown of `malloc`s.
#[inline(always)]
pub fn malloc_at_profiled(size: usize, site: usize) -> *mut c_void {
    malloc_at_site_rules::<false, true>(size, site)
}

/// `malloc` with the heap profile and placement (`SACS_PROFILE` and `SACS_SITES=on`).
#[inline(always)]
pub fn malloc_at_placed_profiled(size: usize, site: usize) -> *mut c_void {
    malloc_at_site_rules::<true, true>(size, site)
}

/// [`malloc_at`]'s two copies of the HOT pop (one per class table), with the site.
#[inline(always)]
fn malloc_at_site_rules<const PLACE: bool, const COUNT: bool>(
    size: usize,
    site: usize,
) -> *mut c_void {
    let _guard = Reentry::enter("malloc");
    alloc_at_site_rules::<PLACE, COUNT>(size, site)
}

/// [`malloc_at_site_rules`] without the re-entry guard (for `realloc`, which holds its own).
#[inline(always)]
fn alloc_at_site_rules<const PLACE: bool, const COUNT: bool>(
    size: usize,
    site: usize,
) -> *mut c_void {
    let miss = if COUNT {
        refill_at_or_enomem::<false>
    } else {
        refill_at_or_enomem::<true>
    };
    if size <= TINY_MAX {
        let class = size_class::c_tiny_class(size);
        return fast_path::alloc_small_at::<PLACE, COUNT>(class, site, miss).cast();
    }
    if size <= MID_MAX {
        let class = size_class::mid_class(size);
        return fast_path::alloc_small_at::<PLACE, COUNT>(class, site, miss).cast();
    }
    malloc_large_at::<PLACE>(size, site)
}

/// [`malloc_large`] from `site`: a big block learns its site's reuse gap and, when placing,
/// carries the site's cache policy (`site::big`).
#[cold]
#[inline(never)]
#[link_section = ".sacs_rare"]
fn malloc_large_at<const PLACE: bool>(size: usize, site: usize) -> *mut c_void {
    let p = malloc_large(size);
    if !p.is_null() {
        site::big::allocated(p.cast(), site, platform::now_ms(), PLACE);
    }
    p
}

/// The miss of the Site Rules entries: samples (`SAMPLE`) or refills, setting `errno` on
/// failure.
#[cold]
#[inline(never)]
#[link_section = ".sacs_rare"]
fn refill_at_or_enomem<const SAMPLE: bool>(heap: *mut Heap, site: usize, slot: usize) -> *mut u8 {
    enomem_if_null(fast_path::alloc_refill_at::<SAMPLE>(heap, site, slot))
}

/// Which `malloc` entry the options ask for: the preload library's load-time constructor
/// points its naked `malloc` at the function of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MallocEntry {
    /// [`malloc_at`]: Site Rules off.
    Plain,
    /// [`malloc_at_sites`]: `SACS_SITES=observe` (or another value that is not `on`).
    Sites,
    /// [`malloc_at_placed`]: `SACS_SITES=on`.
    Placed,
    /// [`malloc_at_profiled`]: `SACS_PROFILE`, Site Rules observing its samples.
    Profiled,
    /// [`malloc_at_placed_profiled`]: `SACS_PROFILE` and `SACS_SITES=on`.
    PlacedProfiled,
}

/// The `malloc` entry for the options as they are (read once, at load).
pub fn malloc_entry() -> MallocEntry {
    let sites = crate::options::get(crate::options::Opt::Sites) != 0;
    match (crate::site::placing(), crate::site::profiling()) {
        (true, true) => MallocEntry::PlacedProfiled,
        (true, false) => MallocEntry::Placed,
        (false, true) => MallocEntry::Profiled,
        (false, false) if sites => MallocEntry::Sites,
        (false, false) => MallocEntry::Plain,
    }
}

/// `malloc`'s miss: the current page had no free block.
#[cold]
#[inline(never)]
fn refill_or_enomem(heap: *mut Heap, class: usize) -> *mut u8 {
    enomem_if_null(fast_path::alloc_refill(heap, class))
}

/// [`refill_or_enomem`] for the tiny HOT path of [`malloc_at`], which passes its table offset.
#[cold]
#[inline(never)]
fn refill_c_tiny_or_enomem(offset: usize, heap: *mut Heap) -> *mut u8 {
    refill_or_enomem(heap, fast_path::c_tiny_class_at(offset))
}

/// `malloc` of more than [`MID_MAX`] bytes.
#[cold]
#[inline(never)]
fn malloc_large(size: usize) -> *mut c_void {
    alloc_or_enomem(c_size(size), 1)
}

/// `free`.
///
/// # Safety
/// - `p` is null or a live block of this allocator (a bad pointer is reported, not trusted).
#[inline(always)]
pub unsafe fn free(p: *mut c_void) {
    let _guard = Reentry::enter("free");
    // SAFETY: the caller's contract.
    unsafe { fast_path::free(p.cast()) }
}

/// `calloc`: zeroed, with the product checked for overflow. A small block takes `malloc`'s HOT
/// pops ([`malloc_at`]) and is zeroed; a big one comes zeroed from the big path (fresh pages are
/// not written).
pub fn calloc(n: usize, size: usize) -> *mut c_void {
    let _guard = Reentry::enter("calloc");
    let Some(total) = calloc_total(n, size) else {
        return ptr::null_mut();
    };
    let p = if total <= TINY_MAX {
        fast_path::alloc_c_tiny(total, refill_c_tiny_or_enomem)
    } else if total <= MID_MAX {
        fast_path::alloc_small(size_class::mid_class(total), refill_or_enomem)
    } else {
        return calloc_large(total);
    };
    zeroed(p.cast(), total)
}

/// `calloc`'s `n * size`, or `None` with `errno` set to `ENOMEM` when it overflows.
#[inline(always)]
fn calloc_total(n: usize, size: usize) -> Option<usize> {
    let total = n.checked_mul(size);
    if total.is_none() {
        set_errno(ENOMEM);
    }
    total
}

/// Clears the first `total` bytes of `p`, a new small block (or null), and returns it.
#[inline(always)]
fn zeroed(p: *mut c_void, total: usize) -> *mut c_void {
    if !p.is_null() {
        // SAFETY: `p` is a new block of at least `total` bytes.
        unsafe { ptr::write_bytes(p.cast::<u8>(), 0, total) };
    }
    p
}

/// `calloc` of more than [`MID_MAX`] bytes.
#[cold]
#[inline(never)]
fn calloc_large(total: usize) -> *mut c_void {
    let p = fast_path::alloc_zeroed(c_size(total), 1);
    if p.is_null() {
        set_errno(ENOMEM);
    }
    p.cast()
}

/// `calloc` with Site Rules observing (`SACS_SITES=observe`): [`calloc`] whose block comes from
/// the Site Rules path with `site`, as [`malloc_at_sites`]'s does (what the preload library's
/// `calloc` enters when so chosen at load).
pub fn calloc_at_sites(n: usize, size: usize, site: usize) -> *mut c_void {
    calloc_at_site_rules::<false, false>(n, size, site)
}

/// `calloc` with Site Rules placing (`SACS_SITES=on`), as [`malloc_at_placed`].
pub fn calloc_at_placed(n: usize, size: usize, site: usize) -> *mut c_void {
    calloc_at_site_rules::<true, false>(n, size, site)
}

/// `calloc` with the heap profile (`SACS_PROFILE`), as [`malloc_at_profiled`].
pub fn calloc_at_profiled(n: usize, size: usize, site: usize) -> *mut c_void {
    calloc_at_site_rules::<false, true>(n, size, site)
}

/// `calloc` with the heap profile and placement, as [`malloc_at_placed_profiled`].
pub fn calloc_at_placed_profiled(n: usize, size: usize, site: usize) -> *mut c_void {
    calloc_at_site_rules::<true, true>(n, size, site)
}

/// [`calloc`] from `site`: a small block is allocated as `malloc` from `site` allocates (sampled
/// at the HOT path's misses, placed by the site's rule) and zeroed; a big one comes zeroed from
/// the big path (fresh pages are not written) and learns its site's reuse gap.
#[inline(always)]
fn calloc_at_site_rules<const PLACE: bool, const COUNT: bool>(
    n: usize,
    size: usize,
    site: usize,
) -> *mut c_void {
    let _guard = Reentry::enter("calloc");
    let Some(total) = calloc_total(n, size) else {
        return ptr::null_mut();
    };
    if total > MID_MAX {
        return calloc_large_at::<PLACE>(total, site);
    }
    zeroed(alloc_at_site_rules::<PLACE, COUNT>(total, site), total)
}

/// [`calloc`] of more than [`MID_MAX`] bytes from `site` (see [`malloc_large_at`]).
#[cold]
#[inline(never)]
#[link_section = ".sacs_rare"]
fn calloc_large_at<const PLACE: bool>(total: usize, site: usize) -> *mut c_void {
    let p = calloc_large(total);
    if !p.is_null() {
        site::big::allocated(p.cast(), site, platform::now_ms(), PLACE);
    }
    p
}

/// `realloc`.
///
/// # Safety
/// - `p` is null or a live block of this allocator.
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    let _guard = Reentry::enter("realloc");
    if !p.is_null() && size == 0 {
        // SAFETY: the caller's contract.
        unsafe { fast_path::free(p.cast()) };
        return ptr::null_mut();
    }
    // SAFETY: the caller's contract.
    let q = unsafe { fast_path::realloc(p.cast(), c_size(size), 1) };
    if q.is_null() {
        set_errno(ENOMEM);
    }
    q.cast()
}

/// `realloc` called from the code address `site` (captured by the preload library's naked
/// `realloc`), with Site Rules off: the site is not used.
///
/// # Safety
/// - as for [`realloc`].
#[inline(always)]
pub unsafe fn realloc_at(p: *mut c_void, size: usize, site: usize) -> *mut c_void {
    let _ = site;
    // SAFETY: the caller's contract.
    unsafe { realloc(p, size) }
}

/// `realloc` with Site Rules observing (`SACS_SITES=observe`): a block that must move is
/// allocated as [`malloc_at_sites`] allocates, from `site` (sampled at the HOT path's misses).
///
/// # Safety
/// - as for [`realloc`].
#[link_section = ".sacs_rare"]
pub unsafe fn realloc_at_sites(p: *mut c_void, size: usize, site: usize) -> *mut c_void {
    // SAFETY: the caller's contract.
    unsafe { realloc_at_site_rules::<false>(p, size, site) }
}

/// `realloc` with Site Rules placing (`SACS_SITES=on`): a block that must move is allocated as
/// [`malloc_at_placed`] allocates, from `site`.
///
/// # Safety
/// - as for [`realloc`].
#[link_section = ".sacs_rare"]
pub unsafe fn realloc_at_placed(p: *mut c_void, size: usize, site: usize) -> *mut c_void {
    // SAFETY: the caller's contract.
    unsafe { realloc_at_site_rules::<true>(p, size, site) }
}

/// [`realloc`] whose new block, when one is needed, comes from the Site Rules path with `site`.
///
/// # Safety
/// - as for [`realloc`].
unsafe fn realloc_at_site_rules<const PLACE: bool>(
    p: *mut c_void,
    size: usize,
    site: usize,
) -> *mut c_void {
    let _guard = Reentry::enter("realloc");
    if !p.is_null() && size == 0 {
        // SAFETY: the caller's contract.
        unsafe { fast_path::free(p.cast()) };
        return ptr::null_mut();
    }
    let alloc = |n: usize| alloc_at_site_rules::<PLACE, false>(n, site).cast();
    // SAFETY: the caller's contract.
    let q = unsafe { fast_path::realloc_with(p.cast(), c_size(size), alloc) };
    if q.is_null() {
        set_errno(ENOMEM);
    }
    q.cast()
}

/// Which `realloc` entry the options ask for (the preload library's naked `realloc` jumps to
/// it): Site Rules' entries when they are on and the heap profile is off (the profile samples
/// `malloc`s by its own countdown, which `realloc` does not take part in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReallocEntry {
    /// [`realloc_at`].
    Plain,
    /// [`realloc_at_sites`].
    Sites,
    /// [`realloc_at_placed`].
    Placed,
}

/// The `realloc` entry for the options as they are (read once, at load).
pub fn realloc_entry() -> ReallocEntry {
    match malloc_entry() {
        MallocEntry::Sites => ReallocEntry::Sites,
        MallocEntry::Placed => ReallocEntry::Placed,
        _ => ReallocEntry::Plain,
    }
}

/// `reallocarray`: `realloc(p, n * size)` with the product checked for overflow.
///
/// # Safety
/// - as for [`realloc`].
pub unsafe fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: the caller's contract.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(ENOMEM);
            ptr::null_mut()
        }
    }
}

/// `posix_memalign`: 0 and the block in `*out`, or `EINVAL` / `ENOMEM` (errno untouched).
///
/// # Safety
/// - `out` is valid for a pointer write.
pub unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    let _guard = Reentry::enter("posix_memalign");
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<*mut c_void>()) {
        return EINVAL;
    }
    let p = fast_path::alloc(c_size(size), align);
    if p.is_null() {
        return ENOMEM;
    }
    // SAFETY: the caller's contract.
    unsafe { *out = p.cast() };
    0
}

/// `aligned_alloc`: NULL with `EINVAL` unless `align` is a power of two.
pub fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    let _guard = Reentry::enter("aligned_alloc");
    if !align.is_power_of_two() {
        set_errno(EINVAL);
        return ptr::null_mut();
    }
    alloc_or_enomem(c_size(size), align)
}

/// `memalign`: an alignment that is not a power of two is rounded up to one (glibc does the
/// same); one too large to round gives NULL with `EINVAL`.
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    let _guard = Reentry::enter("memalign");
    let Some(align) = align.max(1).checked_next_power_of_two() else {
        set_errno(EINVAL);
        return ptr::null_mut();
    };
    alloc_or_enomem(c_size(size), align)
}

/// `valloc`: page-aligned.
pub fn valloc(size: usize) -> *mut c_void {
    memalign(OS_PAGE, size)
}

/// `pvalloc`: page-aligned, size rounded up to whole pages.
pub fn pvalloc(size: usize) -> *mut c_void {
    let Some(rounded) = size.max(1).checked_add(OS_PAGE - 1) else {
        set_errno(ENOMEM);
        return ptr::null_mut();
    };
    memalign(OS_PAGE, rounded & !(OS_PAGE - 1))
}

/// `malloc_usable_size`: 0 for NULL; a pointer SACS never handed out is reported.
///
/// # Safety
/// - `p` is null or a live block of this allocator.
pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
    let _guard = Reentry::enter("malloc_usable_size");
    if p.is_null() {
        return 0;
    }
    // SAFETY: any address may be asked about.
    let n = unsafe { fast_path::usable_size(p.cast()) };
    if n == 0 {
        error::report("malloc_usable_size", Misuse::InvalidPointer, p.cast());
    }
    n
}

/// A private copy of standard error (close-on-exec, numbered 100 or above) for output at exit,
/// when many programs have closed descriptor 2 already; -1 if it cannot be made.
pub fn stderr_copy() -> i32 {
    crate::platform::dup_stderr()
}

/// Registers `f` to run at the process's `exit`, as `atexit` does (see `platform::at_exit` for
/// why not `atexit` itself). Returns false if it could not be registered.
pub fn at_exit(f: extern "C" fn(*mut c_void)) -> bool {
    platform::at_exit(f)
}

/// Writes `message` to standard error and aborts, without allocating or unwinding (a panic in
/// the preload library, `operator new` out of memory).
pub fn fatal(message: &[u8]) -> ! {
    crate::platform::write_stderr(message);
    crate::platform::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::platform::errno;

    #[test]
    fn malloc_zero_is_unique_and_free_null_is_harmless() {
        let a = malloc(0);
        let b = malloc(0);
        assert!(!a.is_null() && !b.is_null() && a != b);
        // SAFETY: blocks from malloc; NULL.
        unsafe {
            free(a);
            free(b);
            free(ptr::null_mut());
        }
    }

    #[test]
    fn c_class_is_the_class_of_the_rounded_size() {
        for size in 0..=MID_MAX {
            let class = if size <= TINY_MAX {
                size_class::c_tiny_class(size)
            } else {
                size_class::mid_class(size)
            };
            assert_eq!(class, size_class::class_of(c_size(size)), "size {size}");
        }
    }

    #[test]
    fn blocks_above_8_bytes_are_16_aligned() {
        for size in 9..2000usize {
            let p = malloc(size);
            let q = calloc(1, size);
            assert_eq!(p as usize % 16, 0, "malloc({size})");
            assert_eq!(q as usize % 16, 0, "calloc(1, {size})");
            // SAFETY: live blocks; realloc keeps the alignment rule.
            unsafe {
                let r = realloc(p, size * 3 + 1);
                assert_eq!(r as usize % 16, 0, "realloc to {}", size * 3 + 1);
                free(r);
                free(q);
            }
        }
    }

    #[test]
    fn aligned_entries_keep_the_16_byte_rule_for_small_alignments() {
        // Several blocks of each size live at once: the first block of a page is aligned to
        // anything, the ones after it only to the block size.
        for size in 9..=1024usize {
            let mut live = [ptr::null_mut(); 12];
            for (k, slot) in live.iter_mut().enumerate() {
                let align = 1usize << (k % 4);
                *slot = match k / 4 {
                    0 => aligned_alloc(align, size),
                    1 => memalign(align, size),
                    _ => {
                        let mut out = ptr::null_mut();
                        // SAFETY: `out` is a valid pointer slot.
                        let rc = unsafe { posix_memalign(&mut out, 8, size) };
                        assert_eq!(rc, 0);
                        out
                    }
                };
                assert_eq!(
                    *slot as usize % 16,
                    0,
                    "entry {} align {align} size {size}",
                    k / 4
                );
            }
            for p in live {
                // SAFETY: live blocks, freed once.
                unsafe { free(p) };
            }
        }
    }

    #[test]
    fn realloc_with_a_site_keeps_the_contract() {
        type Entry = unsafe fn(*mut c_void, usize, usize) -> *mut c_void;
        let entries: [(&str, Entry); 3] = [
            ("realloc_at", realloc_at),
            ("realloc_at_sites", realloc_at_sites),
            ("realloc_at_placed", realloc_at_placed),
        ];
        for (name, entry) in entries {
            let site = 0x4444_0000_0123;
            // SAFETY: each block is live until the realloc that replaces it or the free.
            unsafe {
                let mut p = entry(ptr::null_mut(), 10, site) as *mut u8;
                assert!(!p.is_null(), "{name}(NULL, 10)");
                let mut len = 10usize;
                for k in 0..len {
                    *p.add(k) = k as u8;
                }
                // Through every tier and back down.
                for size in [100usize, 3000, 40_000, 300_000, 3 << 20, 5000, 24] {
                    let q = entry(p.cast(), size, site) as *mut u8;
                    assert!(!q.is_null(), "{name} to {size}");
                    assert_eq!(q as usize % 16, 0, "{name} to {size}: alignment");
                    for k in 0..len.min(size) {
                        assert_eq!(*q.add(k), k as u8, "{name} to {size}: byte {k}");
                    }
                    for k in len.min(size)..size {
                        *q.add(k) = k as u8;
                    }
                    (p, len) = (q, size);
                }
                assert!(entry(p.cast(), 0, site).is_null(), "{name}(p, 0) frees");
            }
        }
    }

    #[test]
    fn overflow_gives_enomem() {
        set_errno(0);
        assert!(calloc(usize::MAX / 2, 3).is_null());
        assert_eq!(errno(), ENOMEM);
        set_errno(0);
        // SAFETY: NULL is a valid realloc argument.
        assert!(unsafe { reallocarray(ptr::null_mut(), 1 << 40, 1 << 40) }.is_null());
        assert_eq!(errno(), ENOMEM);
        set_errno(0);
        assert!(malloc(usize::MAX - 100).is_null());
        assert_eq!(errno(), ENOMEM);
        set_errno(0);
        assert!(malloc(isize::MAX as usize).is_null());
        assert_eq!(errno(), ENOMEM);
    }

    #[test]
    fn calloc_zeroes_reused_memory() {
        // The plain entry and the Site Rules ones (a site of this test's own), at sizes of the
        // tiny, mid and big tiers and a whale, each over a block just freed dirty.
        let site = calloc_zeroes_reused_memory as *const () as usize;
        type Calloc = fn(usize, usize, usize) -> *mut c_void;
        let entries: [(&str, Calloc); 5] = [
            ("calloc", |n, size, _| calloc(n, size)),
            ("calloc_at_sites", calloc_at_sites),
            ("calloc_at_placed", calloc_at_placed),
            ("calloc_at_profiled", calloc_at_profiled),
            ("calloc_at_placed_profiled", calloc_at_placed_profiled),
        ];
        for (name, entry) in entries {
            for size in [0usize, 24, 1000, 20000, 100_000, 3 << 20] {
                let p = malloc_at_placed(size.max(1), site) as *mut u8;
                // SAFETY: at least size bytes.
                unsafe {
                    ptr::write_bytes(p, 0xEE, size.max(1));
                    free(p.cast());
                }
                let q = entry(1, size, site) as *mut u8;
                assert!(!q.is_null(), "{name}({size})");
                // SAFETY: size bytes.
                let bytes = unsafe { core::slice::from_raw_parts(q, size) };
                assert!(bytes.iter().all(|&b| b == 0), "{name}({size})");
                // SAFETY: from calloc.
                unsafe { free(q.cast()) };
            }
            set_errno(0);
            assert!(entry(usize::MAX, 2, site).is_null(), "{name} overflow");
            assert_eq!(platform::errno(), ENOMEM, "{name} overflow");
        }
    }

    #[test]
    fn alignment_rules() {
        let mut out = ptr::null_mut();
        // SAFETY: `out` is a valid pointer slot.
        unsafe {
            assert_eq!(posix_memalign(&mut out, 3, 10), EINVAL);
            assert_eq!(
                posix_memalign(&mut out, 4, 10),
                EINVAL,
                "not a multiple of sizeof(void*)"
            );
            assert!(out.is_null(), "untouched on error");
            for align in [8usize, 16, 64, 4096, 1 << 16, 1 << 20, 4 << 20] {
                assert_eq!(posix_memalign(&mut out, align, 100), 0);
                assert_eq!(out as usize % align, 0, "align {align}");
                free(out);
            }
        }
        set_errno(0);
        assert!(aligned_alloc(48, 100).is_null());
        assert_eq!(errno(), EINVAL);
        let p = memalign(48, 100);
        assert_eq!(p as usize % 64, 0, "rounded up to 64");
        let v = valloc(10);
        let pv = pvalloc(5000);
        assert_eq!(v as usize % OS_PAGE, 0);
        assert_eq!(pv as usize % OS_PAGE, 0);
        // SAFETY: live blocks.
        unsafe {
            assert!(malloc_usable_size(pv) >= 2 * OS_PAGE);
            free(p);
            free(v);
            free(pv);
        }
    }

    #[test]
    fn realloc_rules() {
        // SAFETY: NULL and live blocks only.
        unsafe {
            let p = realloc(ptr::null_mut(), 100) as *mut u8;
            assert!(!p.is_null());
            for i in 0..100 {
                *p.add(i) = i as u8;
            }
            let q = realloc(p.cast(), 100_000) as *mut u8;
            for i in 0..100 {
                assert_eq!(*q.add(i), i as u8);
            }
            assert!(
                realloc(q.cast(), 0).is_null(),
                "realloc(p, 0) frees and returns NULL"
            );
            assert_eq!(malloc_usable_size(ptr::null_mut()), 0);
        }
    }
}
