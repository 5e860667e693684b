//! Whale: requests of 2 MiB and more, each in a dedicated mapping aligned to 2 MiB (transparent
//! huge pages advised for whales that `realloc` grows), and the ring that keeps freed mappings
//! for reuse.
//!
//! A fresh mapping costs more than its `mmap`: the kernel zeroes and faults in every page of it
//! before the program writes it again, and unmapping tears down its page tables. So a freed
//! whale is not unmapped: it enters the ring (`ring`), where a later whale of any size up to
//! its length takes it with no system call, split when it is much longer (the tail stays
//! cached), merged with cached neighbours when freed, grown with `mremap` when none is long
//! enough. The ring's byte budget follows the live whale footprint. Idle mappings are released
//! with MADV_FREE after `SACS_HOT_MS` and unmapped after `SACS_WARM_MS`, at the next whale
//! operation or purge look.
//!
//! Live whales are recorded in the registry (`registry`), so `free` and `usable_size` can tell
//! a whale from a pointer SACS never handed out. `realloc` of a whale uses `mremap`: in place
//! when the address space after it is free, else moved into a fresh 2 MiB-aligned reservation,
//! never copied (when the kernel refuses, the caller copies).
//!
//! One lock guards the ring and the registry; no system call is made under it (see
//! "No spin lock across a system call" in docs/architecture.md).

mod registry;
mod ring;

use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::lock::Lock;
use crate::options::{self, Opt};
use crate::platform::{self, OS_PAGE};
use crate::stats::{Tier, GLOBAL};

use registry::{Registry, Slot, REGISTRY_BYTES};
use ring::{Cached, Evicted, Expired, Limits, Ring, Take, Warming};

/// Alignment of every whale mapping (the x86_64 and aarch64 huge-page size).
pub const LARGE_PAGE: usize = 2 << 20;

struct Whales {
    ring: Ring,
    registry: Registry,
    next_purge: u64,
}

// SAFETY: only reached through its lock.
unsafe impl Send for Whales {}

static WHALES: Lock<Whales> = Lock::new(Whales {
    ring: Ring::new(),
    registry: Registry::new(),
    next_purge: 0,
});

/// Whether a whale mapping (or large-page region) was ever made: until then the ring is empty
/// and [`purge`] has nothing to look at. Mappings enter the ring only after `map_fresh` made
/// them, which sets it.
static MAPPED_ANY: AtomicBool = AtomicBool::new(false);

impl Whales {
    /// Ages the ring if it is due (see [`Ring::age`]) and sets the next look.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn age_if_due(
        &mut self,
        now: u64,
        force: bool,
        l: &Limits,
        out: &mut Expired,
        warming: &mut Warming,
    ) {
        if !force && now < self.next_purge {
            return;
        }
        self.ring
            .age(now, force, self.registry.live_bytes, l, out, warming);
        let hot = options::get(Opt::HotMs) as u64;
        let warm = options::get(Opt::WarmMs) as u64;
        self.next_purge = now + (hot.min(warm) / 2).max(1);
    }

    /// Publishes the ring's bytes and budget for the statistics.
    fn publish(&self, l: &Limits) {
        GLOBAL.whale_ring_bytes.store(self.ring.bytes(), Relaxed);
        GLOBAL.whale_ring_budget.store(self.ring.budget(l), Relaxed);
        self.publish_live();
    }

    /// Publishes the bytes of live whales (after every change of the registry).
    fn publish_live(&self) {
        GLOBAL
            .whale_live_bytes
            .store(self.registry.live_bytes, Relaxed);
    }
}

/// Releases the mappings `age` took out of the ring (outside the lock), puts them back warm,
/// and unmaps what that pushes out. Returns whether the ring holds any mapping afterwards.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn warm_all(warming: &Warming) -> bool {
    if warming.is_empty() {
        return false;
    }
    for c in warming {
        // SAFETY: a cached mapping out of the ring: ours alone, its contents dead.
        unsafe { platform::release_lazily(c.base as *mut u8, c.len) };
    }
    let mut evicted = Evicted::new();
    let limits = Limits::from_options();
    let held = {
        let mut w = WHALES.lock();
        w.ring.put_back(warming, &limits, &mut evicted);
        w.publish(&limits);
        w.ring.holds_any()
    };
    unmap_all(&evicted);
    if held {
        crate::purge::note_deferred();
    }
    held
}

/// Maps the registry on first use, with no lock held; if another thread installed one
/// meanwhile, this one is unmapped. Returns false if it cannot be had.
fn map_registry() -> bool {
    if !WHALES.lock().registry.slots.is_null() {
        return true;
    }
    let Some(p) = platform::map(REGISTRY_BYTES, true) else {
        return false;
    };
    let installed = {
        let mut w = WHALES.lock();
        let first = w.registry.slots.is_null();
        if first {
            w.registry.slots = p.as_ptr() as *mut Slot;
        }
        first
    };
    if !installed {
        // SAFETY: our mapping, never published.
        unsafe { platform::unmap(p.as_ptr(), REGISTRY_BYTES) };
    }
    true
}

/// Unmaps mappings (or parts of them) taken out of the ring (outside the lock).
fn unmap_all(list: &[(usize, usize)]) {
    for &(base, len) in list {
        GLOBAL.unmapped(len, len);
        // SAFETY: the range left the ring (or is the unused tail of a range that did); no one
        // else knows it.
        unsafe { platform::unmap(base as *mut u8, len) };
    }
}

/// Bytes of a mapping serving `size` bytes, or `None` when too large.
#[inline]
fn mapping_len(size: usize) -> Option<usize> {
    if size > isize::MAX as usize - LARGE_PAGE {
        return None;
    }
    Some((size.max(1) + OS_PAGE - 1) & !(OS_PAGE - 1))
}

/// Whether a fresh mapping for a whale gets transparent huge pages (`MADV_HUGEPAGE`):
/// `SACS_WHALE_HUGE_PAGES` 0 never, 1 (the default) for whales that `realloc` grows (and
/// large-page regions), 2 for every whale. A whale grown by `realloc` is moved and extended by
/// `mremap`, which moves a huge page's one entry instead of 512, and faults its new memory in
/// 2 MiB at a time (realloc-growth: 0.50 s with them, 0.69 s without); a whale that `malloc`
/// made is mostly written once and then reused from the ring, and on this project's machines
/// a fresh 2 MiB page cost about 2.8 ms to fault in, 1,200 times the 4 KiB faults it replaces
/// (whale-churn: 2.23 s with them, 1.72 s without; docs/benchmarks.md, "Huge pages for grown
/// whales").
fn huge_pages_for(grown: bool) -> bool {
    let v = options::get(Opt::WhaleHugePages);
    v >= 2 || (grown && v >= 1)
}

/// Maps a fresh whale mapping of `len` bytes aligned to `align` (>= LARGE_PAGE), with huge
/// pages advised if `huge`.
fn map_fresh(len: usize, align: usize, huge: bool) -> Option<usize> {
    let p = platform::map_aligned(len, align)?.as_ptr();
    MAPPED_ANY.store(true, Relaxed);
    GLOBAL.mapped(len);
    if len >= LARGE_PAGE && huge {
        // SAFETY: the mapping is ours.
        unsafe { platform::advise_huge(p, len) };
    }
    Some(p as usize)
}

/// Grows the cached mapping `c` (out of the ring) to `len` bytes aligned to `align`: a fresh
/// reservation of `len` bytes, into which `mremap` moves `c`'s pages (page tables move, nothing
/// is copied, the rest is new zero memory; the mapping keeps `c`'s huge-page advice). Returns
/// the new base; or, when the kernel refuses (e.g. because `c` spans two kernel mappings,
/// merged neighbours), `Err` with the reservation, a fresh mapping of `len` bytes (`c`
/// unchanged), or `Err(None)` when there was no memory for it.
fn grow(c: Cached, len: usize, align: usize) -> Result<usize, Option<usize>> {
    debug_assert!(c.len < len);
    let dest = platform::map_aligned(len, align).ok_or(None)?.as_ptr();
    GLOBAL.mapped(len);
    // SAFETY: `c` is a whole range of ours out of the ring, its contents dead; `dest` is our
    // fresh reservation of `len` bytes, which MREMAP_FIXED replaces.
    if unsafe { platform::remap_fixed(c.base as *mut u8, c.len, len, dest) }.is_some() {
        // `c`'s bytes moved into the reservation, whose bytes they replace.
        GLOBAL.unmapped(c.len, c.len);
        return Ok(dest as usize);
    }
    Err(Some(dest as usize))
}

/// Obtains a mapping of at least `len` bytes aligned to `align` from the ring or the system
/// (exactly `len` bytes when `exact`), registered as a live whale when `register`. Returns
/// (base, mapping length, bytes at its start that may hold old contents).
#[inline(never)]
#[link_section = ".sacs_rare"]
fn obtain(
    len: usize,
    align: usize,
    register: bool,
    exact: bool,
    huge: bool,
) -> Option<(usize, usize, usize)> {
    let align = align.max(LARGE_PAGE);
    let now = platform::now_ms();
    if register && !map_registry() {
        return None;
    }
    let limits = Limits::from_options();
    let mut expired = Expired::new();
    let mut warming = Warming::new();
    let taken = {
        let mut w = WHALES.lock();
        if register && !w.registry.has_room() {
            return None;
        }
        w.age_if_due(now, false, &limits, &mut expired, &mut warming);
        let live = w.registry.live_bytes.saturating_add(len);
        w.ring.note_live(live);
        let taken = w.ring.take(len, align, exact, true, &limits);
        if !matches!(taken, Take::Hit { .. }) {
            w.ring
                .note_fresh(now, options::get(Opt::WarmMs) as u64, &limits);
        }
        w.publish(&limits);
        if let Take::Hit { base, len, .. } = taken {
            if register {
                let ok = w.registry.register(base, len);
                debug_assert!(ok, "room was checked under the same lock");
                w.publish_live();
            }
        }
        taken
    };
    unmap_all(&expired);
    warm_all(&warming);
    let (base, got, dirty) = match taken {
        Take::Hit { base, len, trim } => {
            if let Some(tail) = trim {
                unmap_all(&[tail]);
            }
            GLOBAL.whale_ring_hits.add(1);
            return Some((base, len, len));
        }
        Take::Grow(c) => match grow(c, len, align) {
            Ok(base) => {
                GLOBAL.whale_ring_hits.add(1);
                GLOBAL.whale_ring_grown.add(1);
                (base, len, c.len)
            }
            Err(fresh) => {
                // `c` goes back into the ring; the reservation, if any, is a fresh mapping.
                give_back(c.base, c.len);
                GLOBAL.whale_ring_misses.add(1);
                let base = fresh?;
                if huge {
                    // SAFETY: the mapping is ours.
                    unsafe { platform::advise_huge(base as *mut u8, len) };
                }
                (base, len, 0)
            }
        },
        Take::Miss => {
            GLOBAL.whale_ring_misses.add(1);
            (map_fresh(len, align, huge)?, len, 0)
        }
    };
    if register {
        let mut w = WHALES.lock();
        if !w.registry.register(base, got) {
            drop(w);
            unmap_all(&[(base, got)]);
            return None;
        }
        w.publish_live();
    }
    Some((base, got, dirty))
}

/// Returns a mapping to the ring (or unmaps it when the ring is off or it is too large).
#[inline(never)]
#[link_section = ".sacs_rare"]
fn give_back(base: usize, len: usize) {
    let now = platform::now_ms();
    let limits = Limits::from_options();
    let mut expired = Expired::new();
    let mut warming = Warming::new();
    let held = {
        let mut w = WHALES.lock();
        w.age_if_due(now, false, &limits, &mut expired, &mut warming);
        w.ring.insert(base, len, now, &limits, &mut expired);
        w.publish(&limits);
        w.ring.holds_any()
    };
    unmap_all(&expired);
    let held = warm_all(&warming) || held;
    if held {
        crate::purge::note_deferred();
    }
}

/// Allocates a whale of `size` bytes aligned to `align`; zeroed if `zero`.
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    alloc_huge_if(size, align, zero, huge_pages_for(false))
}

/// Allocates a whale of `size` bytes aligned to `align` for `realloc`, which moves a smaller
/// block into it: its mapping gets huge pages under the default `SACS_WHALE_HUGE_PAGES`.
pub fn alloc_grown(size: usize, align: usize) -> *mut u8 {
    alloc_huge_if(size, align, false, huge_pages_for(true))
}

/// [`alloc`]'s body: a fresh mapping gets huge pages if `huge`.
fn alloc_huge_if(size: usize, align: usize, zero: bool, huge: bool) -> *mut u8 {
    let Some(len) = mapping_len(size) else {
        return ptr::null_mut();
    };
    match obtain(len, align, true, false, huge) {
        Some((base, _, dirty)) => {
            GLOBAL.tier_allocs[Tier::Whale as usize].add(1);
            if zero && dirty > 0 {
                // SAFETY: the mapping is ours and at least `size` bytes long; past `dirty` it
                // is fresh zero memory.
                unsafe { ptr::write_bytes(base as *mut u8, 0, size.min(dirty)) };
            }
            base as *mut u8
        }
        None => ptr::null_mut(),
    }
}

/// Frees the whale at `p`. Returns false if `p` is not a live whale.
pub fn free(p: *mut u8) -> bool {
    let len = {
        let mut w = WHALES.lock();
        let Some(i) = w.registry.find(p as usize) else {
            return false;
        };
        let len = w.registry.len_at(i);
        w.registry.unregister_at(i);
        w.publish_live();
        len
    };
    GLOBAL.tier_frees[Tier::Whale as usize].add(1);
    give_back(p as usize, len);
    true
}

/// Usable bytes of the whale at `p`, if it is one.
pub fn usable_size(p: *const u8) -> Option<usize> {
    let w = WHALES.lock();
    w.registry.find(p as usize).map(|i| w.registry.len_at(i))
}

/// Resizes the whale at `p` to `new_size` (>= 2 MiB) without copying. Returns the new address,
/// `Some(null)` when `new_size` is too large, or `None` if `p` is not a whale or the kernel
/// refused to move it (the old block is intact: the caller allocates, copies and frees).
///
/// # Safety
/// - if `p` is a live whale, the caller owns it: no one else uses it during the call, and only
///   the returned address is used afterwards.
#[inline(never)]
#[link_section = ".sacs_rare"]
pub unsafe fn realloc(p: *mut u8, new_size: usize) -> Option<*mut u8> {
    let base = p as usize;
    let Some(new_len) = mapping_len(new_size) else {
        return usable_size(p).map(|_| ptr::null_mut());
    };
    // The caller owns the whale, so its entry stays while the lock is dropped for the system
    // calls (others' unregistering may shift it to another slot: it is found again by address).
    let mut w = WHALES.lock();
    let i = w.registry.find(base)?;
    let len = w.registry.len_at(i);
    if new_len <= len {
        if new_len < len / 2 {
            // Give the tail back: one munmap, same address.
            w.registry.set_len(i, new_len);
            w.publish_live();
            drop(w);
            GLOBAL.unmapped(len - new_len, len - new_len);
            // SAFETY: the tail of our mapping past the new length is no longer used.
            unsafe { platform::unmap((base + new_len) as *mut u8, len - new_len) };
        }
        return Some(p);
    }
    let live = w.registry.live_bytes - len + new_len;
    w.ring.note_live(live);
    drop(w);
    let huge = huge_pages_for(true);
    // SAFETY: the whole mapping is ours (registered, and the caller owns it).
    if unsafe { platform::remap(p, len, new_len, false) }.is_some() {
        let mut w = WHALES.lock();
        let i = w
            .registry
            .find(base)
            .expect("the caller's whale stays registered");
        w.registry.set_len(i, new_len);
        w.publish_live();
        drop(w);
        GLOBAL.mapped(new_len - len);
        if huge {
            // SAFETY: the mapping is ours (a whale that `malloc` made has no advice yet).
            unsafe { platform::advise_huge(p, new_len) };
        }
        return Some(p);
    }
    // Move it into a fresh aligned reservation: the kernel moves the page tables, no copy.
    let dest = platform::map_aligned(new_len, LARGE_PAGE)?.as_ptr();
    // Register the new address before the old range is unmapped by the move: once it is,
    // another thread may map a whale there and register the same base.
    moved_entry(base, dest as usize, new_len);
    // SAFETY: `p..p+len` is our mapping; `dest` is our reservation of `new_len` bytes, which
    // MREMAP_FIXED replaces.
    let moved = unsafe { platform::remap_fixed(p, len, new_len, dest) };
    if moved.is_none() {
        // E.g. the whale spans two kernel mappings (it was carved from merged neighbours).
        moved_entry(dest as usize, base, len);
        // SAFETY: the reservation is ours and unused.
        unsafe { platform::unmap(dest, new_len) };
        return None;
    }
    GLOBAL.mapped(new_len - len);
    if huge {
        // SAFETY: as above, at its new address.
        unsafe { platform::advise_huge(dest, new_len) };
    }
    Some(dest)
}

/// Moves the registry entry of the whale at `from` to `to`, now `to_len` bytes long (a whale
/// that `realloc` moves, or moves back when the move failed).
#[link_section = ".sacs_rare"]
fn moved_entry(from: usize, to: usize, to_len: usize) {
    let mut w = WHALES.lock();
    let i = w
        .registry
        .find(from)
        .expect("the caller's whale stays registered");
    w.registry.unregister_at(i);
    let ok = w.registry.register(to, to_len);
    debug_assert!(ok, "a slot was just freed");
    w.publish_live();
}

/// Purges the ring (everything with `force`). Returns whether mappings are left in it (or it
/// could not be looked at).
#[inline]
pub fn purge(now: u64, force: bool) -> bool {
    // A process that never mapped a whale has nothing in the ring: its purge looks stay out of
    // the ring's code, which is rare code (docs/architecture.md, "The library's own footprint").
    MAPPED_ANY.load(Relaxed) && purge_ring(now, force)
}

/// [`purge`] once a whale mapping has been made.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn purge_ring(now: u64, force: bool) -> bool {
    let limits = Limits::from_options();
    let mut expired = Expired::new();
    let mut warming = Warming::new();
    let held = {
        let Some(mut w) = (if force {
            Some(WHALES.lock())
        } else {
            WHALES.try_lock()
        }) else {
            return true;
        };
        if !force && now < w.next_purge {
            return w.ring.holds_any();
        }
        w.age_if_due(now, force, &limits, &mut expired, &mut warming);
        w.publish(&limits);
        w.ring.holds_any()
    };
    unmap_all(&expired);
    warm_all(&warming) || held
}

/// Obtains a region of `len` bytes (rounded up to 2 MiB) aligned to 2 MiB, for the large-page
/// API: the ring first (a longer cached mapping is split or trimmed to exactly `len`, since
/// the caller releases exactly that), else a fresh mapping. Not registered as a whale
/// allocation.
pub fn obtain_region(len: usize) -> *mut u8 {
    let Some(len) = len
        .checked_add(LARGE_PAGE - 1)
        .map(|l| l & !(LARGE_PAGE - 1))
    else {
        return ptr::null_mut();
    };
    if len == 0 || len > isize::MAX as usize {
        return ptr::null_mut();
    }
    match obtain(len, LARGE_PAGE, false, true, huge_pages_for(true)) {
        Some((base, got, _)) => {
            debug_assert_eq!(got, len);
            base as *mut u8
        }
        None => ptr::null_mut(),
    }
}

/// Returns a region from [`obtain_region`] of `len` bytes (as passed there).
///
/// # Safety
/// - `p` came from `obtain_region(len)` and is no longer used.
pub unsafe fn release_region(p: *mut u8, len: usize) {
    let len = (len + LARGE_PAGE - 1) & !(LARGE_PAGE - 1);
    give_back(p as usize, len);
}

/// The whale lock, for the fork handlers.
pub fn lock_for_fork() -> &'static Lock<impl Sized> {
    &WHALES
}
