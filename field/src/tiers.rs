//! Where resident blocks live, within a memory budget, and which one leaves when a tier is full.
//!
//! - **hot**: f32 frames in SACS's 2 MiB pages (`hot`). The only tier updates write to, and the
//!   only one with dirty blocks.
//! - **warm**: f16 copies in ordinary memory (`half`), half the bytes of hot, read-only: a
//!   query reads them converted back to f32 (an error of at most 2^-11 relative per value).
//! - **cold**: the file (`store`), f32 or int8 per the layout's encoding.
//!
//! Each tier has a fixed number of slots derived from the [`Budget`], and replaces blocks with
//! a CLOCK over decaying access counts: a touch adds one to a block's count; the hand, looking
//! for a victim, halves the count of each block it passes and takes the first at zero. A block
//! leaving hot goes to warm (the caller writes it back first if dirty); a block leaving warm
//! is dropped (it is clean). Loading, promotion policy and write-back are the field's job
//! (`field`); this module only keeps the slots.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;

use half::f16;
use half::slice::HalfFloatSliceExt;
use sacs::large_pages::LARGE_PAGE;

use crate::hot::{FrameId, HotFrames};
use crate::usage::{UsedEntries, Utilisation};

/// Hashes a block id with one multiplication (Fibonacci hashing): ids are the field's own,
/// not an adversary's, so SipHash's protection buys nothing here, and its cost showed in
/// the profile of Zipf batches (`Tiers::touch` and `hash_one` about 13 % of the samples).
/// Consecutive ids differ in the low bits of the product (an odd multiplier is a bijection
/// on them) and the high bits, which the table's tags use, mix every bit of the id.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }

    #[inline]
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Hash tables keyed by block id use this.
pub type IdBuild = BuildHasherDefault<IdHasher>;

/// A memory budget for a field's resident blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes of hot (f32) blocks. Hot frames come in whole 2 MiB regions, so the regions held
    /// are at most this rounded up to 2 MiB; at least one block is always allowed.
    pub hot_bytes: usize,
    /// Bytes of warm (f16) blocks' values; 0 disables the warm tier.
    pub warm_bytes: usize,
}

impl Budget {
    /// No bound: every block touched stays hot.
    pub const UNLIMITED: Budget = Budget {
        hot_bytes: usize::MAX,
        warm_bytes: 0,
    };
}

/// Where a resident block is: a slot of the hot or of the warm tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Slot in the hot tier.
    Hot(usize),
    /// Slot in the warm tier.
    Warm(usize),
}

struct HotSlot {
    block: u64,
    frame: FrameId,
    dirty: bool,
    count: u8,
    /// Pinned for the update whose stamp this is (see `Tiers::pin_for_update`).
    stamp: u64,
    used: UsedEntries,
    /// Loaded ahead of its use and not touched since (`Tiers::mark_ahead`).
    ahead: bool,
    /// Its values are its warm copy's, converted back to f32 ([`Tiers::promote_warm`]):
    /// within f16 rounding of the block's newest version, which is in the file or in flight
    /// to it. Never dirty: an update reads the exact values first ([`Tiers::make_exact`]).
    approx: bool,
}

struct WarmSlot {
    block: u64,
    values: Box<[f16]>,
    count: u8,
    used: UsedEntries,
    /// As `HotSlot::ahead`.
    ahead: bool,
}

/// The resident blocks of a field.
pub struct Tiers {
    floats_per_block: usize,
    entries_per_block: usize,
    frames: HotFrames,
    hot: Vec<HotSlot>,
    hot_cap: usize,
    hot_hand: usize,
    warm: Vec<WarmSlot>,
    warm_cap: usize,
    warm_hand: usize,
    index: HashMap<u64, Place, IdBuild>,
    dirty: usize,
    /// Utilisation of the residencies that have ended.
    ended: Utilisation,
    /// Blocks that victim searches pass over while possible (those a batch needs).
    pinned: HashSet<u64, IdBuild>,
    /// The current update's stamp: hot slots carrying it are pinned too (cheaper than the
    /// set for the few blocks of one update).
    update_stamp: u64,
    /// Blocks loaded ahead of their use that a touch then reached while resident.
    ahead_used: u64,
}

/// Advances a CLOCK hand over `slots` to the first whose count is zero and that is not
/// pinned, halving each count it passes; returns that slot's index and leaves the hand just
/// past it. Pins hold while any slot is unpinned: an unpinned count (at most 255) reaches zero
/// within 9 passes of the hand, during which it passes pinned slots fewer than `9 × slots`
/// times. Only after passing pinned slots `16 × slots` times (every slot pinned) are the pins
/// ignored, so a victim is always found.
fn clock_victim<T>(
    slots: &mut [T],
    hand: &mut usize,
    count_of: impl Fn(&mut T) -> &mut u8,
    pinned: impl Fn(&T) -> bool,
) -> usize {
    assert!(!slots.is_empty());
    let mut pins_hold = slots.len() * 16;
    loop {
        let i = *hand % slots.len();
        *hand = (i + 1) % slots.len();
        if pins_hold > 0 && pinned(&slots[i]) {
            pins_hold -= 1;
            continue;
        }
        let count = count_of(&mut slots[i]);
        if *count == 0 {
            return i;
        }
        *count /= 2;
    }
}

impl Tiers {
    /// Empty tiers for blocks of `floats_per_block` floats (`entries_per_block` entries)
    /// under `budget`.
    pub fn new(floats_per_block: usize, entries_per_block: usize, budget: Budget) -> Tiers {
        let hot_cap = (budget.hot_bytes / (floats_per_block * 4)).max(1);
        let warm_cap = budget.warm_bytes / (floats_per_block * 2);
        Tiers {
            floats_per_block,
            entries_per_block,
            frames: HotFrames::new(floats_per_block, hot_cap),
            hot: Vec::new(),
            hot_cap,
            hot_hand: 0,
            warm: Vec::new(),
            warm_cap,
            warm_hand: 0,
            index: HashMap::default(),
            dirty: 0,
            ended: Utilisation::default(),
            pinned: HashSet::default(),
            update_stamp: 1,
            ahead_used: 0,
        }
    }

    /// Slots of both tiers (saturating; `usize::MAX` when unlimited).
    pub fn capacity(&self) -> usize {
        self.hot_cap.saturating_add(self.warm_cap)
    }

    /// Where `block` is, without counting a touch.
    pub fn place(&self, block: u64) -> Option<Place> {
        self.index.get(&block).copied()
    }

    /// Sets the blocks that victim searches pass over (replacing any earlier set).
    pub fn pin(&mut self, blocks: impl IntoIterator<Item = u64>) {
        self.pinned.clear();
        self.pinned.extend(blocks);
    }

    /// Pins hot slot `slot` until [`Tiers::end_update`]: an update's blocks stay while it runs.
    #[inline]
    pub fn pin_for_update(&mut self, slot: usize) {
        self.hot[slot].stamp = self.update_stamp;
    }

    /// Unpins the slots [`Tiers::pin_for_update`] pinned.
    #[inline]
    pub fn end_update(&mut self) {
        self.update_stamp += 1;
    }

    /// Clears the pinned set.
    pub fn unpin_all(&mut self) {
        self.pinned.clear();
    }

    /// How many blocks can be loaded without evicting a pinned block: free hot slots, plus the
    /// unpinned slots of the tier that a load into a full hot tier takes (warm if it exists,
    /// else hot).
    pub fn room_outside_pins(&self) -> usize {
        let free_hot = self.hot_cap - self.hot.len();
        // Counted over the pins (a batch's blocks), not over the slots (the whole budget).
        let pinned_in = |warm: bool| {
            self.pinned
                .iter()
                .filter(|b| match self.index.get(b) {
                    Some(Place::Warm(_)) => warm,
                    Some(Place::Hot(_)) => !warm,
                    None => false,
                })
                .count()
        };
        let replaceable = if self.has_warm() {
            let warm_free = self.warm_cap - self.warm.len();
            warm_free + self.warm.len() - pinned_in(true)
        } else {
            self.hot.len() - pinned_in(false)
        };
        free_hot + replaceable
    }

    /// Sets a resident block's access count to zero: loaded ahead of its use, so that its
    /// first use counts as its first touch.
    pub fn settle(&mut self, place: Place) {
        match place {
            Place::Hot(i) => self.hot[i].count = 0,
            Place::Warm(i) => self.warm[i].count = 0,
        }
    }

    /// Where `block` is, counting a touch.
    pub fn touch(&mut self, block: u64) -> Option<Place> {
        let place = *self.index.get(&block)?;
        self.touch_place(place);
        Some(place)
    }

    /// Counts a touch of the block at `place` (a resident block's place, as [`Tiers::touch`]
    /// returned it and nothing has moved since), without looking its id up again.
    pub fn touch_place(&mut self, place: Place) {
        let (count, ahead) = match place {
            Place::Hot(i) => {
                let slot = &mut self.hot[i];
                (&mut slot.count, &mut slot.ahead)
            }
            Place::Warm(i) => {
                let slot = &mut self.warm[i];
                (&mut slot.count, &mut slot.ahead)
            }
        };
        *count = count.saturating_add(1);
        if *ahead {
            *ahead = false;
            self.ahead_used += 1;
        }
    }

    /// Marks a resident block as loaded ahead of its use: its next touch counts in
    /// [`Tiers::ahead_used`].
    pub fn mark_ahead(&mut self, place: Place) {
        match place {
            Place::Hot(i) => self.hot[i].ahead = true,
            Place::Warm(i) => self.warm[i].ahead = true,
        }
    }

    /// Whether the block at `place` was loaded ahead of its use and not touched since
    /// ([`Tiers::mark_ahead`]).
    pub fn is_ahead(&self, place: Place) -> bool {
        match place {
            Place::Hot(i) => self.hot[i].ahead,
            Place::Warm(i) => self.warm[i].ahead,
        }
    }

    /// Blocks loaded ahead of their use (`mark_ahead`) that a touch reached while resident.
    pub fn ahead_used(&self) -> u64 {
        self.ahead_used
    }

    /// Slots of the hot and of the warm tier.
    pub fn slots(&self) -> (usize, usize) {
        (self.hot_cap, self.warm_cap)
    }

    /// Slots of the hot tier.
    pub fn hot_capacity(&self) -> usize {
        self.hot_cap
    }

    /// Whether a block can become hot without evicting another.
    pub fn hot_has_room(&self) -> bool {
        self.hot.len() < self.hot_cap
    }

    /// Whether the warm tier exists (its budget holds at least one block).
    pub fn has_warm(&self) -> bool {
        self.warm_cap > 0
    }

    /// A new hot slot for `block` (not resident) while there is room; its frame's contents
    /// are unspecified until the caller fills them (`hot_values_mut`).
    pub fn push_hot(&mut self, block: u64) -> io::Result<usize> {
        debug_assert!(self.hot_has_room() && !self.index.contains_key(&block));
        let frame = self.frames.alloc()?;
        self.hot.push(HotSlot {
            block,
            frame,
            dirty: false,
            count: 1,
            stamp: 0,
            used: UsedEntries::new(self.entries_per_block),
            ahead: false,
            approx: false,
        });
        let slot = self.hot.len() - 1;
        self.index.insert(block, Place::Hot(slot));
        Ok(slot)
    }

    /// The hot slot the CLOCK would evict next (the tier must be full), passing over pinned
    /// blocks while it can.
    pub fn hot_victim(&mut self) -> usize {
        let (pinned, stamp) = (&self.pinned, self.update_stamp);
        clock_victim(
            &mut self.hot,
            &mut self.hot_hand,
            |s| &mut s.count,
            |s| s.stamp == stamp || (!pinned.is_empty() && pinned.contains(&s.block)),
        )
    }

    /// Gives hot slot `slot` (clean) to `block` (not resident); the block that held it moves
    /// to the warm tier as f16, or is dropped if there is no warm tier.
    pub fn replace_hot(&mut self, slot: usize, block: u64) {
        let fresh = UsedEntries::new(self.entries_per_block);
        let old = &mut self.hot[slot];
        assert!(
            !old.dirty,
            "a dirty block must be written back before it leaves hot"
        );
        let (old_block, old_frame, old_ahead) = (old.block, old.frame, old.ahead);
        let old_used = std::mem::replace(&mut old.used, fresh);
        old.block = block;
        old.count = 1;
        old.ahead = false;
        // An approximate block's values are f16 values: converting them back is exact.
        old.approx = false;
        self.index.remove(&old_block);
        self.index.insert(block, Place::Hot(slot));
        if self.has_warm() {
            let mut values: Box<[f16]> = vec![f16::ZERO; self.floats_per_block].into_boxed_slice();
            values.convert_from_f32_slice(self.frames.frame(old_frame));
            self.insert_warm_values(old_block, values, old_used, old_ahead);
        } else {
            self.ended.add(&old_used);
        }
    }

    /// Stores a warm copy of `block` (not resident), evicting a warm block if the tier is full;
    /// returns its slot (`None` if there is no warm tier).
    pub fn insert_warm(&mut self, block: u64, values: &[f32]) -> Option<usize> {
        if self.has_warm() && self.warm.len() == self.warm_cap {
            // Full: the victim's f16 box and bitmap take the new block (no allocation).
            let pinned = &self.pinned;
            let i = clock_victim(
                &mut self.warm,
                &mut self.warm_hand,
                |s| &mut s.count,
                |s| pinned.contains(&s.block),
            );
            let slot = &mut self.warm[i];
            slot.values.convert_from_f32_slice(values);
            let gone = std::mem::replace(&mut slot.block, block);
            slot.count = 1;
            slot.ahead = false;
            self.ended.add(&slot.used);
            slot.used.clear();
            self.index.remove(&gone);
            self.index.insert(block, Place::Warm(i));
            return Some(i);
        }
        let mut boxed: Box<[f16]> = vec![f16::ZERO; values.len()].into_boxed_slice();
        boxed.convert_from_f32_slice(values);
        let values = boxed;
        self.insert_warm_values(
            block,
            values,
            UsedEntries::new(self.entries_per_block),
            false,
        )
    }

    fn insert_warm_values(
        &mut self,
        block: u64,
        values: Box<[f16]>,
        used: UsedEntries,
        ahead: bool,
    ) -> Option<usize> {
        if !self.has_warm() {
            self.ended.add(&used);
            return None;
        }
        debug_assert_eq!(values.len(), self.floats_per_block);
        let slot = WarmSlot {
            block,
            values,
            count: 1,
            used,
            ahead,
        };
        let i = if self.warm.len() < self.warm_cap {
            self.warm.push(slot);
            self.warm.len() - 1
        } else {
            let pinned = &self.pinned;
            let i = clock_victim(
                &mut self.warm,
                &mut self.warm_hand,
                |s| &mut s.count,
                |s| pinned.contains(&s.block),
            );
            let gone = std::mem::replace(&mut self.warm[i], slot);
            self.index.remove(&gone.block);
            self.ended.add(&gone.used);
            i
        };
        self.index.insert(block, Place::Warm(i));
        Some(i)
    }

    /// Drops warm slot `slot` (its block is about to become hot) and returns its record of
    /// used entries, for `carry_used`.
    pub fn remove_warm(&mut self, slot: usize) -> UsedEntries {
        self.take_warm(slot).0
    }

    /// Drops warm slot `slot` for a promotion from its f16 copy: returns its record of used
    /// entries and its values, for [`Tiers::fill_promoted`].
    pub fn take_warm(&mut self, slot: usize) -> (UsedEntries, Box<[f16]>) {
        let gone = self.warm.swap_remove(slot);
        self.index.remove(&gone.block);
        if let Some(moved) = self.warm.get(slot) {
            self.index.insert(moved.block, Place::Warm(slot));
        }
        (gone.used, gone.values)
    }

    /// Fills hot slot `hot` (just given to the block: `push_hot` or `replace_hot`) from the
    /// block's warm copy (`take_warm`), with no read of the file: its values are marked
    /// approximate (see [`Tiers::make_exact`]), and its residency goes on (`used`).
    pub fn fill_promoted(&mut self, hot: usize, values: &[f16], used: UsedEntries) {
        let s = &mut self.hot[hot];
        s.used = used;
        s.approx = true;
        let frame = s.frame;
        values.convert_to_f32_slice(self.frames.frame_mut(frame));
    }

    /// Whether hot slot `slot` holds approximate values ([`Tiers::fill_promoted`]).
    #[inline]
    pub fn is_approx(&self, slot: usize) -> bool {
        self.hot[slot].approx
    }

    /// Gives hot slot `slot` (approximate, or exact already) the block's exact values.
    pub fn make_exact(&mut self, slot: usize, values: &[f32]) {
        let s = &mut self.hot[slot];
        s.approx = false;
        let frame = s.frame;
        self.frames.frame_mut(frame).copy_from_slice(values);
    }

    /// Continues a promoted block's residency in hot slot `slot`.
    pub fn carry_used(&mut self, slot: usize, used: UsedEntries) {
        self.hot[slot].used = used;
    }

    /// Notes that entry `entry` of the block at `place` was read or updated.
    #[inline]
    pub fn mark_used(&mut self, place: Place, entry: usize) {
        match place {
            Place::Hot(i) => self.hot[i].used.mark(entry),
            Place::Warm(i) => self.warm[i].used.mark(entry),
        }
    }

    /// Utilisation over the residencies that ended and the blocks resident now.
    pub fn utilisation(&self) -> Utilisation {
        let mut u = self.ended;
        for used in self
            .hot
            .iter()
            .map(|s| &s.used)
            .chain(self.warm.iter().map(|s| &s.used))
        {
            u.add(used);
        }
        u
    }

    /// A hot block's floats.
    pub fn hot_values(&self, slot: usize) -> &[f32] {
        self.frames.frame(self.hot[slot].frame)
    }

    /// A hot block's floats, for filling after `push_hot` / `replace_hot` (not marked dirty).
    pub fn hot_values_mut(&mut self, slot: usize) -> &mut [f32] {
        self.frames.frame_mut(self.hot[slot].frame)
    }

    /// A hot block's floats for an update: marks the block dirty.
    pub fn hot_values_for_update(&mut self, slot: usize) -> &mut [f32] {
        let s = &mut self.hot[slot];
        debug_assert!(!s.approx, "an update must make its block exact first");
        if !s.dirty {
            s.dirty = true;
            self.dirty += 1;
        }
        self.frames.frame_mut(s.frame)
    }

    /// Converts `out.len()` floats of a warm block, from float `at`, into `out`.
    pub fn warm_values(&self, slot: usize, at: usize, out: &mut [f32]) {
        let values = &self.warm[slot].values[at..at + out.len()];
        for (o, v) in out.iter_mut().zip(values) {
            *o = v.to_f32();
        }
    }

    /// A warm block's access count.
    pub fn warm_count(&self, slot: usize) -> u8 {
        self.warm[slot].count
    }

    /// Whether hot slot `slot` holds changes not yet written back.
    pub fn is_dirty(&self, slot: usize) -> bool {
        self.hot[slot].dirty
    }

    /// Number of dirty hot blocks.
    pub fn dirty_count(&self) -> usize {
        self.dirty
    }

    /// The hot slots holding dirty blocks.
    pub fn dirty_slots(&self) -> Vec<usize> {
        (0..self.hot.len()).filter(|&i| self.hot[i].dirty).collect()
    }

    /// The block in hot slot `slot`.
    pub fn hot_block(&self, slot: usize) -> u64 {
        self.hot[slot].block
    }

    /// Marks hot slot `slot` clean (its values were handed over for write-back).
    pub fn mark_clean(&mut self, slot: usize) {
        let s = &mut self.hot[slot];
        if s.dirty {
            s.dirty = false;
            self.dirty -= 1;
        }
    }

    /// Ids of the resident blocks (hot and warm), sorted.
    pub fn resident_blocks(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.index.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Numbers of hot and warm blocks.
    pub fn counts(&self) -> (usize, usize) {
        (self.hot.len(), self.warm.len())
    }

    /// Bytes held: hot regions (whole 2 MiB regions) and warm values.
    pub fn bytes(&self) -> (usize, usize) {
        (
            self.frames.region_bytes(),
            self.warm.len() * self.floats_per_block * 2,
        )
    }

    /// The most bytes of hot regions the budget allows (`usize::MAX` when unlimited).
    pub fn hot_bytes_bound(&self) -> usize {
        self.hot_cap
            .checked_mul(self.floats_per_block * 4)
            .and_then(|b| b.checked_next_multiple_of(LARGE_PAGE))
            .unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests;
