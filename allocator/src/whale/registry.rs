//! The registry of live whales: an open-addressing hash table from a whale's start address to
//! its mapping length, so that `free` and `usable_size` can tell a whale from a pointer SACS
//! never handed out, and the sum of the live lengths, which sizes the ring's byte budget
//! (`ring::Ring::budget`).
//!
//! 2^20 slots, mapped with `MAP_NORESERVE` at the first whale (by `super::map_registry`, outside
//! the whale lock); Fibonacci hash of `addr >> 12`, linear probing, deletion by backward shift
//! (no tombstones), at most 3/4 full. Only reached under the whale lock.

use crate::probe;

/// log2 of the registry's slots.
const REGISTRY_BITS: usize = 20;
const REGISTRY_SLOTS: usize = 1 << REGISTRY_BITS;
/// Bytes of the registry mapping.
pub(super) const REGISTRY_BYTES: usize = REGISTRY_SLOTS * core::mem::size_of::<Slot>();

/// A registry slot: a live whale (`base == 0`: empty).
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct Slot {
    base: usize,
    len: usize,
}

#[inline]
fn slot_of(base: usize) -> usize {
    (base >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - REGISTRY_BITS)
}

/// The live whales.
pub(super) struct Registry {
    /// `REGISTRY_SLOTS` slots, mapped on first use (null before).
    pub(super) slots: *mut Slot,
    /// Live whales.
    pub(super) live: usize,
    /// Bytes of their mappings.
    pub(super) live_bytes: usize,
}

impl Registry {
    pub(super) const fn new() -> Registry {
        Registry {
            slots: core::ptr::null_mut(),
            live: 0,
            live_bytes: 0,
        }
    }

    /// Records a live whale. Returns false if the registry is not mapped yet or too full.
    pub(super) fn register(&mut self, base: usize, len: usize) -> bool {
        if !self.has_room() {
            return false;
        }
        let slots = self.slots_mut();
        let i = probe::vacant(slots, slot_of(base), |s| s.base == 0);
        slots[i] = Slot { base, len };
        self.live += 1;
        self.live_bytes += len;
        true
    }

    /// Whether a whale can be registered now (the registry is mapped and not too full).
    pub(super) fn has_room(&self) -> bool {
        !self.slots.is_null() && self.live < REGISTRY_SLOTS / 4 * 3
    }

    /// The slots (none before the first whale).
    fn slots(&self) -> &[Slot] {
        if self.slots.is_null() {
            return &[];
        }
        // SAFETY: the registry is a mapping of REGISTRY_SLOTS slots, only reached through the
        // whale lock, whose guard `&self` comes from.
        unsafe { core::slice::from_raw_parts(self.slots, REGISTRY_SLOTS) }
    }

    /// The slots, to change.
    fn slots_mut(&mut self) -> &mut [Slot] {
        if self.slots.is_null() {
            return &mut [];
        }
        // SAFETY: as in `slots`; `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.slots, REGISTRY_SLOTS) }
    }

    /// Index of `base`'s slot, if it is a live whale.
    pub(super) fn find(&self, base: usize) -> Option<usize> {
        if self.slots.is_null() || base == 0 {
            return None;
        }
        probe::find(
            self.slots(),
            slot_of(base),
            |s| s.base == base,
            |s| s.base == 0,
        )
    }

    /// The mapping length of slot `i`.
    pub(super) fn len_at(&self, i: usize) -> usize {
        self.slots()[i].len
    }

    /// Sets the mapping length of slot `i` (a realloc in place).
    pub(super) fn set_len(&mut self, i: usize, len: usize) {
        let old = self.slots()[i].len;
        self.live_bytes = self.live_bytes - old + len;
        self.slots_mut()[i].len = len;
    }

    /// Removes slot `i`, shifting later entries of its probe run back (no tombstones).
    pub(super) fn unregister_at(&mut self, i: usize) {
        let len = self.slots()[i].len;
        let empty = Slot { base: 0, len: 0 };
        probe::remove(self.slots_mut(), i, empty, |s| {
            (s.base != 0).then(|| slot_of(s.base))
        });
        self.live -= 1;
        self.live_bytes -= len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform;

    #[test]
    fn registry_insert_find_remove_with_collisions() {
        let mut r = Registry::new();
        r.slots = platform::map(REGISTRY_BYTES, true).unwrap().as_ptr() as *mut Slot;
        // Many bases, some sharing home slots, removed in an order that exercises backward shift.
        let bases: std::vec::Vec<usize> = (1..5000usize).map(|i| i << 21).collect();
        for &b in &bases {
            assert!(r.register(b, b / 2));
        }
        for &b in &bases {
            let i = r.find(b).expect("registered");
            assert_eq!(r.len_at(i), b / 2);
        }
        let total: usize = bases.iter().map(|b| b / 2).sum();
        assert_eq!(r.live_bytes, total);
        for &b in bases.iter().step_by(3) {
            let i = r.find(b).unwrap();
            r.unregister_at(i);
            assert!(r.find(b).is_none());
        }
        for (k, &b) in bases.iter().enumerate() {
            assert_eq!(r.find(b).is_some(), k % 3 != 0, "base {b:#x}");
        }
        assert_eq!(r.live, bases.len() - bases.len().div_ceil(3));
        let left: usize = bases
            .iter()
            .skip(1)
            .step_by(3)
            .map(|b| b / 2)
            .sum::<usize>()
            + bases
                .iter()
                .skip(2)
                .step_by(3)
                .map(|b| b / 2)
                .sum::<usize>();
        assert_eq!(r.live_bytes, left);
        // SAFETY: the registry mapping is ours.
        unsafe { platform::unmap(r.slots as *mut u8, REGISTRY_BYTES) };
    }
}
