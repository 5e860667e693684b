//! Whale: requests of 2 MiB and more, each in a dedicated mapping aligned to 2 MiB (transparent
//! huge pages advised), and the FIFO ring that keeps freed mappings for reuse.
//!
//! Unmapping a large mapping is expensive (the kernel tears down its page tables and flushes
//! TLBs), so a freed whale is not unmapped: it enters the ring, and the next whale whose size it
//! fits — at least the request, at most `SACS_WHALE_WASTE_PERCENT` (W_MAX) more — takes it with
//! no system call. The ring holds at most `SACS_WHALE_RING` mappings and `SACS_WHALE_RING_MIB`
//! of them; beyond either the oldest are unmapped (FIFO), and a mapping larger than the byte
//! budget is unmapped at once. Mappings idle in the ring for `SACS_HOT_MS` are released with
//! MADV_FREE, for `SACS_WARM_MS` unmapped, at the next whale operation or purge look.
//!
//! Live whales are recorded in the registry, an open-addressing hash table from start address
//! to length, so `free` and `usable_size` can tell a whale from a pointer SACS never handed out.
//! `realloc` of a whale uses `mremap`: in place when the address space after it is free, else
//! moved into a fresh 2 MiB-aligned reservation, never copied.

use core::ptr;

use arrayvec::ArrayVec;

use crate::lock::Lock;
use crate::options::{self, Opt};
use crate::platform::{self, OS_PAGE};
use crate::probe;
use crate::stats::{Tier, GLOBAL};

/// Alignment of every whale mapping (the x86_64 and aarch64 huge-page size).
pub const LARGE_PAGE: usize = 2 << 20;
/// Most mappings the ring can hold.
pub const RING_MAX: usize = 64;
/// log2 of the registry's slots.
const REGISTRY_BITS: usize = 20;
const REGISTRY_SLOTS: usize = 1 << REGISTRY_BITS;
/// Bytes of the registry mapping.
const REGISTRY_BYTES: usize = REGISTRY_SLOTS * core::mem::size_of::<Slot>();

/// A freed mapping in the ring.
#[derive(Clone, Copy)]
struct Cached {
    base: usize,
    len: usize,
    freed_at: u64,
    warm: bool,
}

/// A registry slot: a live whale (`base == 0`: empty).
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    base: usize,
    len: usize,
}

struct Whales {
    /// Oldest first.
    ring: ArrayVec<Cached, RING_MAX>,
    /// Bytes of the mappings in the ring.
    ring_bytes: usize,
    /// `REGISTRY_SLOTS` slots, mapped on first use.
    registry: *mut Slot,
    live: usize,
    next_purge: u64,
}

// SAFETY: only reached through its lock.
unsafe impl Send for Whales {}

static WHALES: Lock<Whales> = Lock::new(Whales {
    ring: ArrayVec::new_const(),
    ring_bytes: 0,
    registry: ptr::null_mut(),
    live: 0,
    next_purge: 0,
});

#[inline]
fn slot_of(base: usize) -> usize {
    (base >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - REGISTRY_BITS)
}

impl Whales {
    /// Records a live whale. Returns false if the registry is not mapped yet (see
    /// [`map_registry`]) or too full.
    fn register(&mut self, base: usize, len: usize) -> bool {
        if self.registry.is_null() || self.live >= REGISTRY_SLOTS / 4 * 3 {
            return false;
        }
        let slots = self.slots_mut();
        let i = probe::vacant(slots, slot_of(base), |s| s.base == 0);
        slots[i] = Slot { base, len };
        self.live += 1;
        true
    }

    /// The registry's slots (none before the first whale).
    fn slots(&self) -> &[Slot] {
        if self.registry.is_null() {
            return &[];
        }
        // SAFETY: the registry is a mapping of REGISTRY_SLOTS slots, only reached through the
        // whale lock, whose guard `&self` comes from.
        unsafe { core::slice::from_raw_parts(self.registry, REGISTRY_SLOTS) }
    }

    /// The registry's slots, to change.
    fn slots_mut(&mut self) -> &mut [Slot] {
        if self.registry.is_null() {
            return &mut [];
        }
        // SAFETY: as in `slots`; `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.registry, REGISTRY_SLOTS) }
    }

    /// Index of `base`'s slot, if it is a live whale.
    fn find(&self, base: usize) -> Option<usize> {
        if self.registry.is_null() || base == 0 {
            return None;
        }
        probe::find(
            self.slots(),
            slot_of(base),
            |s| s.base == base,
            |s| s.base == 0,
        )
    }

    fn len_at(&self, i: usize) -> usize {
        self.slots()[i].len
    }

    fn set_len(&mut self, i: usize, len: usize) {
        self.slots_mut()[i].len = len;
    }

    /// Removes slot `i`, shifting later entries of its probe run back (no tombstones).
    fn unregister_at(&mut self, i: usize) {
        let empty = Slot { base: 0, len: 0 };
        probe::remove(self.slots_mut(), i, empty, |s| {
            (s.base != 0).then(|| slot_of(s.base))
        });
        self.live -= 1;
    }

    /// Takes the newest ring entry of at least `len` bytes and at most W_MAX more, aligned to
    /// `align`.
    fn take_cached(&mut self, len: usize, align: usize) -> Option<Cached> {
        let waste = options::get(Opt::WhaleWastePercent);
        let limit = len.saturating_add(len / 100 * waste);
        let i = self
            .ring
            .iter()
            .rposition(|c| c.len >= len && c.len <= limit && c.base % align == 0)?;
        let c = self.ring.remove(i);
        self.ring_bytes -= c.len;
        Some(c)
    }

    /// Puts mappings taken out of the ring for MADV_FREE ([`Whales::age`]) back, as warm, in
    /// their age order, pushing the oldest out while the ring is over its count or byte budget
    /// (into `out`, to unmap).
    fn put_back(&mut self, warmed: &[Cached], out: &mut Evicted) {
        let capacity = options::get(Opt::WhaleRing).min(RING_MAX);
        let budget = options::get(Opt::WhaleRingMib).saturating_mul(1 << 20);
        for &c in warmed {
            let mut at = self
                .ring
                .iter()
                .position(|r| r.freed_at > c.freed_at)
                .unwrap_or(self.ring.len());
            if self.ring.is_full() {
                // Full (of mappings cached meanwhile): the oldest leaves, which may be this one.
                GLOBAL.whale_ring_evictions.add(1);
                if at == 0 {
                    out.push((c.base, c.len));
                    continue;
                }
                let old = self.ring.remove(0);
                self.ring_bytes -= old.len;
                out.push((old.base, old.len));
                at -= 1;
            }
            self.ring.insert(at, Cached { warm: true, ..c });
            self.ring_bytes += c.len;
        }
        while !self.ring.is_empty() && (self.ring.len() > capacity || self.ring_bytes > budget) {
            GLOBAL.whale_ring_evictions.add(1);
            let old = self.ring.remove(0);
            self.ring_bytes -= old.len;
            out.push((old.base, old.len));
        }
    }

    /// Puts a freed mapping into the ring, pushing the oldest out while the ring is over its
    /// count (`SACS_WHALE_RING`) or byte (`SACS_WHALE_RING_MIB`) budget. A mapping larger than
    /// the byte budget does not enter. Adds what is to be unmapped to `out`.
    fn cache(&mut self, base: usize, len: usize, now: u64, out: &mut Expired) {
        let capacity = options::get(Opt::WhaleRing).min(RING_MAX);
        let budget = options::get(Opt::WhaleRingMib).saturating_mul(1 << 20);
        if capacity == 0 || len > budget {
            out.push((base, len));
            return;
        }
        while self.ring.len() >= capacity || self.ring_bytes + len > budget {
            GLOBAL.whale_ring_evictions.add(1);
            let old = self.ring.remove(0);
            self.ring_bytes -= old.len;
            out.push((old.base, old.len));
        }
        self.ring.push(Cached {
            base,
            len,
            freed_at: now,
            warm: false,
        });
        self.ring_bytes += len;
    }

    /// Whether the ring holds any mapping (purging has work left).
    fn holds_any(&self) -> bool {
        !self.ring.is_empty()
    }

    /// Ages the ring: MADV_FREE after `SACS_HOT_MS`, out of the ring after `SACS_WARM_MS` (or
    /// everything with `force`). Adds the mappings to unmap to `out`, which the caller keeps in
    /// place on its stack (no 1 KiB list is moved on every whale operation), and takes those to
    /// release out of the ring into `warming` (so no one takes one and writes to it while the
    /// MADV_FREE runs: see [`warm_all`]).
    fn age(&mut self, now: u64, force: bool, out: &mut Expired, warming: &mut Warming) {
        let hot = options::get(Opt::HotMs) as u64;
        let warm = options::get(Opt::WarmMs) as u64;
        while let Some(c) = self.ring.first() {
            if crate::purge::aged(c.freed_at, now, warm, force) {
                let c = self.ring.remove(0);
                self.ring_bytes -= c.len;
                GLOBAL.whale_ring_expired.add(1);
                out.push((c.base, c.len));
            } else {
                break;
            }
        }
        let mut i = 0;
        while i < self.ring.len() {
            let c = self.ring[i];
            if !c.warm && crate::purge::aged(c.freed_at, now, hot, false) {
                let c = self.ring.remove(i);
                self.ring_bytes -= c.len;
                warming.push(c);
            } else {
                i += 1;
            }
        }
        self.next_purge = now + (hot.min(warm) / 2).max(1);
    }
}

/// Mappings taken out of the ring, to unmap once the lock is released: at most the whole ring
/// and the mapping being freed.
type Expired = ArrayVec<(usize, usize), { RING_MAX + 1 }>;

/// Mappings taken out of the ring to be released with MADV_FREE outside the lock, oldest first.
type Warming = ArrayVec<Cached, RING_MAX>;

/// Mappings pushed out of the ring when warmed ones go back: at most the ring and those.
type Evicted = ArrayVec<(usize, usize), { 2 * RING_MAX }>;

/// Releases the mappings `age` took out of the ring (outside the lock), puts them back warm,
/// and unmaps what that pushes out. Returns whether the ring holds any mapping afterwards.
fn warm_all(warming: &Warming) -> bool {
    if warming.is_empty() {
        return false;
    }
    for c in warming {
        // SAFETY: a cached mapping out of the ring: ours alone, its contents dead.
        unsafe { platform::release_lazily(c.base as *mut u8, c.len) };
    }
    let mut evicted = Evicted::new();
    let held = {
        let mut w = WHALES.lock();
        w.put_back(warming, &mut evicted);
        w.holds_any()
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
    if !WHALES.lock().registry.is_null() {
        return true;
    }
    let Some(p) = platform::map(REGISTRY_BYTES, true) else {
        return false;
    };
    let installed = {
        let mut w = WHALES.lock();
        let first = w.registry.is_null();
        if first {
            w.registry = p.as_ptr() as *mut Slot;
        }
        first
    };
    if !installed {
        // SAFETY: our mapping, never published.
        unsafe { platform::unmap(p.as_ptr(), REGISTRY_BYTES) };
    }
    true
}

/// Unmaps mappings taken out of the ring (outside the lock).
fn unmap_all(list: &[(usize, usize)]) {
    for &(base, len) in list {
        GLOBAL.unmapped(len, len);
        // SAFETY: the mapping left the ring; no one else knows it.
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

/// Maps a fresh whale mapping of `len` bytes aligned to `align` (>= LARGE_PAGE).
fn map_fresh(len: usize, align: usize) -> Option<usize> {
    let p = platform::map_aligned(len, align)?.as_ptr();
    GLOBAL.mapped(len);
    if len >= LARGE_PAGE && options::get(Opt::WhaleHugePages) != 0 {
        // SAFETY: the mapping is ours.
        unsafe { platform::advise_huge(p, len) };
    }
    Some(p as usize)
}

/// Obtains a mapping of at least `len` bytes aligned to `align` from the ring or the system.
/// Returns (base, mapping length, whether it is known zero).
fn obtain(len: usize, align: usize, register: bool) -> Option<(usize, usize, bool)> {
    let align = align.max(LARGE_PAGE);
    let now = platform::now_ms();
    if register && !map_registry() {
        return None;
    }
    let mut expired = Expired::new();
    let mut warming = Warming::new();
    let hit = {
        let mut w = WHALES.lock();
        if now >= w.next_purge {
            w.age(now, false, &mut expired, &mut warming);
        }
        let hit = w.take_cached(len, align);
        if let Some(c) = hit {
            if register && !w.register(c.base, c.len) {
                w.cache(c.base, c.len, c.freed_at, &mut expired);
                drop(w);
                unmap_all(&expired);
                warm_all(&warming);
                return None;
            }
        }
        hit
    };
    unmap_all(&expired);
    warm_all(&warming);
    if let Some(c) = hit {
        GLOBAL.whale_ring_hits.add(1);
        return Some((c.base, c.len, false));
    }
    GLOBAL.whale_ring_misses.add(1);
    let base = map_fresh(len, align)?;
    if register && !WHALES.lock().register(base, len) {
        unmap_all(&[(base, len)]);
        return None;
    }
    Some((base, len, true))
}

/// Returns a mapping to the ring (or unmaps it when the ring is off).
fn give_back(base: usize, len: usize) {
    let now = platform::now_ms();
    let mut expired = Expired::new();
    let mut warming = Warming::new();
    let held = {
        let mut w = WHALES.lock();
        if now >= w.next_purge {
            w.age(now, false, &mut expired, &mut warming);
        }
        w.cache(base, len, now, &mut expired);
        w.holds_any()
    };
    unmap_all(&expired);
    let held = warm_all(&warming) || held;
    if held {
        crate::purge::note_deferred();
    }
}

/// Allocates a whale of `size` bytes aligned to `align`; zeroed if `zero`.
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    let Some(len) = mapping_len(size) else {
        return ptr::null_mut();
    };
    match obtain(len, align, true) {
        Some((base, _, is_zero)) => {
            GLOBAL.tier_allocs[Tier::Whale as usize].add(1);
            if zero && !is_zero {
                // SAFETY: the mapping is ours and at least `size` bytes long.
                unsafe { ptr::write_bytes(base as *mut u8, 0, size) };
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
        let Some(i) = w.find(p as usize) else {
            return false;
        };
        let len = w.len_at(i);
        w.unregister_at(i);
        len
    };
    GLOBAL.tier_frees[Tier::Whale as usize].add(1);
    give_back(p as usize, len);
    true
}

/// Usable bytes of the whale at `p`, if it is one.
pub fn usable_size(p: *const u8) -> Option<usize> {
    let w = WHALES.lock();
    w.find(p as usize).map(|i| w.len_at(i))
}

/// Resizes the whale at `p` to `new_size` (>= 2 MiB) without copying. Returns the new address,
/// `Some(null)` when the system refused (the old block is intact), or `None` if `p` is not a
/// whale.
///
/// # Safety
/// - if `p` is a live whale, the caller owns it: no one else uses it during the call, and only
///   the returned address is used afterwards.
pub unsafe fn realloc(p: *mut u8, new_size: usize) -> Option<*mut u8> {
    let base = p as usize;
    let Some(new_len) = mapping_len(new_size) else {
        return usable_size(p).map(|_| ptr::null_mut());
    };
    // The caller owns the whale, so its entry stays while the lock is dropped for the system
    // calls (others' unregistering may shift it to another slot: it is found again by address).
    let mut w = WHALES.lock();
    let i = w.find(base)?;
    let len = w.len_at(i);
    if new_len <= len {
        if new_len < len / 2 {
            // Give the tail back: one munmap, same address.
            w.set_len(i, new_len);
            drop(w);
            GLOBAL.unmapped(len - new_len, len - new_len);
            // SAFETY: the tail of our mapping past the new length is no longer used.
            unsafe { platform::unmap((base + new_len) as *mut u8, len - new_len) };
        }
        return Some(p);
    }
    drop(w);
    // SAFETY: the whole mapping is ours (registered, and the caller owns it).
    if unsafe { platform::remap(p, len, new_len, false) }.is_some() {
        let mut w = WHALES.lock();
        let i = w.find(base).expect("the caller's whale stays registered");
        w.set_len(i, new_len);
        drop(w);
        GLOBAL.mapped(new_len - len);
        return Some(p);
    }
    // Move it into a fresh aligned reservation: the kernel moves the page tables, no copy.
    let Some(dest) = platform::map_aligned(new_len, LARGE_PAGE) else {
        return Some(ptr::null_mut());
    };
    let dest = dest.as_ptr();
    // Register the new address before the old range is unmapped by the move: once it is,
    // another thread may map a whale there and register the same base.
    let moved_entry = |from: usize, to: usize, to_len: usize| {
        let mut w = WHALES.lock();
        let i = w.find(from).expect("the caller's whale stays registered");
        w.unregister_at(i);
        let ok = w.register(to, to_len);
        debug_assert!(ok, "a slot was just freed");
    };
    moved_entry(base, dest as usize, new_len);
    // SAFETY: `p..p+len` is our mapping; `dest` is our reservation of `new_len` bytes, which
    // MREMAP_FIXED replaces.
    let moved = unsafe { platform::remap_fixed(p, len, new_len, dest) };
    if moved.is_none() {
        moved_entry(dest as usize, base, len);
        // SAFETY: the reservation is ours and unused.
        unsafe { platform::unmap(dest, new_len) };
        return Some(ptr::null_mut());
    }
    GLOBAL.mapped(new_len - len);
    Some(dest)
}

/// Purges the ring (everything with `force`). Returns whether mappings are left in it (or it
/// could not be looked at).
pub fn purge(now: u64, force: bool) -> bool {
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
            return w.holds_any();
        }
        w.age(now, force, &mut expired, &mut warming);
        w.holds_any()
    };
    unmap_all(&expired);
    warm_all(&warming) || held
}

/// Obtains a region of `len` bytes (rounded up to 2 MiB) aligned to 2 MiB, for the large-page
/// API: the ring first, else a fresh mapping. Not registered as a whale allocation.
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
    match obtain(len, LARGE_PAGE, false) {
        Some((base, got, _)) => {
            // The caller will release exactly `len` bytes: give back a larger cached mapping's
            // tail now, so none of it is forgotten.
            if got > len {
                unmap_all(&[(base + len, got - len)]);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmed_mappings_go_back_in_age_order() {
        let mut w = Whales {
            ring: ArrayVec::new(),
            ring_bytes: 0,
            registry: ptr::null_mut(),
            live: 0,
            next_purge: 0,
        };
        let entry = |base: usize, freed_at: u64| Cached {
            base,
            len: LARGE_PAGE,
            freed_at,
            warm: false,
        };
        w.ring.push(entry(1 << 30, 10));
        w.ring.push(entry(2 << 30, 30));
        w.ring_bytes = 2 * LARGE_PAGE;
        let mut out = Evicted::new();
        w.put_back(&[entry(3 << 30, 20)], &mut out);
        assert!(out.is_empty());
        let order: std::vec::Vec<u64> = w.ring.iter().map(|c| c.freed_at).collect();
        assert_eq!(order, [10, 20, 30]);
        assert!(w.ring[1].warm && !w.ring[0].warm);
        assert_eq!(w.ring_bytes, 3 * LARGE_PAGE);
    }

    #[test]
    fn registry_insert_find_remove_with_collisions() {
        let mut w = Whales {
            ring: ArrayVec::new(),
            ring_bytes: 0,
            registry: platform::map(REGISTRY_BYTES, true).unwrap().as_ptr() as *mut Slot,
            live: 0,
            next_purge: 0,
        };
        // Many bases, some sharing home slots, removed in an order that exercises backward shift.
        let bases: std::vec::Vec<usize> = (1..5000usize).map(|i| i << 21).collect();
        for &b in &bases {
            assert!(w.register(b, b / 2));
        }
        for &b in &bases {
            let i = w.find(b).expect("registered");
            assert_eq!(w.len_at(i), b / 2);
        }
        for &b in bases.iter().step_by(3) {
            let i = w.find(b).unwrap();
            w.unregister_at(i);
            assert!(w.find(b).is_none());
        }
        for (k, &b) in bases.iter().enumerate() {
            assert_eq!(w.find(b).is_some(), k % 3 != 0, "base {b:#x}");
        }
        assert_eq!(w.live, bases.len() - bases.len().div_ceil(3));
        // SAFETY: the registry mapping is ours.
        unsafe { platform::unmap(w.registry as *mut u8, REGISTRY_BYTES) };
    }
}
