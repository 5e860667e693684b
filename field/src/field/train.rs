//! Training: [`Field::update`], with the two things that kept single updates slow at 4x
//! (session 11, measured with `TailCounters` in docs/field.md):
//!
//! - **Loads together**: an update touches up to `levels × 2^dim` blocks. At its first block
//!   that is not hot, it finds every block of its remaining levels that is not hot and reads
//!   them together (`BlockStore::read_many`, several reads in flight; blocks in flight to
//!   the writer from their copies), makes them hot and pins them for the step — instead of
//!   one read after another, each waiting for the disk.
//! - **Hand-over by steps**: when the dirty blocks reach the write-back threshold they are
//!   handed to the background writer [`HAND_OVER_STEP`] at a time, one step per call, and
//!   never with a wait: a step stops when the copies in flight would pass half their bound
//!   (the other half stays for dirty blocks that must leave hot, which do wait), and the next
//!   call goes on. The hand-over ends when its cursor has swept every hot slot. Before, every
//!   dirty block (1,024 by default: 16 MiB of copies) was handed over in the one update that
//!   reached the threshold, often after waiting for the previous hand-over's write and sync.

use super::Field;
use crate::error::Result;
use crate::tiers::Place;

/// The most dirty blocks one call hands to the writer when the threshold is reached.
pub const HAND_OVER_STEP: usize = 64;

/// The most hot slots one hand-over step looks at for dirty blocks.
const STEP_SCAN: usize = 4096;

impl Field {
    /// One SGD step at `x`: `grad` is the loss gradient with respect to the query output
    /// (`levels × features` floats); each vertex's entry moves by `−lr × weight × grad` of its
    /// level, the gradient of the interpolation.
    ///
    /// The step's blocks are pinned while it runs: if the hot tier has more slots than the
    /// step touches blocks (at most `levels × 2^dim`), none of them is evicted before the
    /// step ends, so every version written back is a state after a whole step. The blocks it
    /// must load are read together (see the module documentation).
    ///
    /// With the live predictor on ([`Field::set_predictor`]), `x` first feeds it, as in
    /// [`Field::query`], and its prediction is prefetched for an update
    /// ([`Field::prefetch_for_update`]: into hot, with exact values).
    pub fn update(&mut self, x: &[f32], grad: &[f32], lr: f32) -> Result<()> {
        let dim = self.layout.dim as usize;
        Field::check_len("x", x.len(), dim)?;
        Field::check_len("grad", grad.len(), self.output_len())?;
        Field::check_finite("x", x)?;
        Field::check_finite("grad", grad)?;
        Field::check_finite("lr", &[lr])?;
        if self.live.is_some() {
            self.predict_from(x, true)?;
        }
        self.keep_map_room()?;
        let stepped = self.update_step(x, grad, lr);
        self.tiers.end_update();
        stepped?;
        self.hand_over_step()
    }

    fn update_step(&mut self, x: &[f32], grad: &[f32], lr: f32) -> Result<()> {
        let dim = self.layout.dim as usize;
        let features = self.blocking.features;
        let (tile, local) = self.tile_of(x);
        let mut gathered = false;
        for level in 0..self.grids.len() {
            let (corners, base) = self.level_corners(tile, level, local);
            let level_grad = &grad[level * features..(level + 1) * features];
            for c in 0..1 << dim {
                let (block, at) = self.blocking.locate(base, corners.index[c]);
                // A hot block costs one look-up, as before; the others go through `hot_slot`
                // (which counts a second touch: harmless, the block enters hot with count 1
                // whether it was warm or not resident).
                let ahead_before = self.tiers.ahead_used();
                let slot = match self.tiers.touch(block) {
                    Some(Place::Hot(slot)) if !self.tiers.is_approx(slot) => slot,
                    _ => {
                        if !gathered {
                            gathered = true;
                            // This touch took the block's mark of a read ahead, if it had one.
                            let first_ahead = self.tiers.ahead_used() > ahead_before;
                            self.load_hot_together(
                                tile,
                                local,
                                level,
                                first_ahead.then_some(block),
                            )?;
                        }
                        self.hot_slot(block)?
                    }
                };
                self.tiers.pin_for_update(slot);
                self.tiers.mark_used(Place::Hot(slot), at / features);
                let row = &mut self.tiers.hot_values_for_update(slot)[at..at + features];
                self.kernel.axpy(-lr * corners.weight[c], level_grad, row);
            }
        }
        Ok(())
    }

    /// Makes hot with exact values, pinned for the current update, the blocks of levels
    /// `from..` around the tile-local point `local` that are not (at most half the hot slots),
    /// read together. `touched_ahead` is a block of them loaded ahead whose mark the update's
    /// touch has just taken (for `TailCounters::update_ahead_loads`).
    fn load_hot_together(
        &mut self,
        tile: u64,
        local: [f32; 3],
        from: usize,
        touched_ahead: Option<u64>,
    ) -> Result<()> {
        let dim = self.layout.dim as usize;
        let mut blocks: Vec<u64> = Vec::with_capacity((self.grids.len() - from) << dim);
        for level in from..self.grids.len() {
            let (corners, base) = self.level_corners(tile, level, local);
            for &entry in &corners.index[..1 << dim] {
                blocks.push(self.blocking.locate(base, entry).0);
            }
        }
        blocks.sort_unstable();
        blocks.dedup();
        // No block may change while its background read is pending.
        for &block in &blocks {
            self.await_block(block)?;
        }
        // Approximate hot blocks (promoted from f16) are read too: an update needs them exact.
        blocks.retain(|&b| match self.tiers.place(b) {
            Some(Place::Hot(slot)) => self.tiers.is_approx(slot),
            Some(Place::Warm(slot)) => {
                self.tail.update_warm_loads += 1;
                if touched_ahead == Some(b) || self.tiers.is_ahead(Place::Warm(slot)) {
                    self.tail.update_ahead_loads += 1;
                }
                true
            }
            None => true,
        });
        blocks.truncate((self.tiers.hot_capacity() / 2).max(1));
        if blocks.len() < 2 {
            return Ok(()); // one block: `hot_slot` reads it as fast
        }
        let floats = self.blocking.floats_per_block();
        let mut buf = std::mem::take(&mut self.gather_buf);
        let placed = (|| -> Result<()> {
            for chunk in blocks.chunks(crate::GATHER_CHUNK) {
                if buf.len() < chunk.len() * floats {
                    buf.resize(chunk.len() * floats, 0.0);
                }
                let values = &mut buf[..chunk.len() * floats];
                let started = std::time::Instant::now();
                self.read_blocks(chunk, values)?;
                self.tail.loads += chunk.len() as u64;
                self.tail.load_ns += started.elapsed().as_nanos() as u64;
                for (&block, values) in chunk.iter().zip(values.chunks_exact(floats)) {
                    self.place_hot_for_update(block, values)?;
                }
            }
            Ok(())
        })();
        self.gather_buf = buf;
        placed
    }

    /// Puts `block` (not hot, or hot with approximate values; maybe warm) into hot with
    /// `values` (its newest, exact), pinned for the current update and untouched (the
    /// update's own touch counts next).
    fn place_hot_for_update(&mut self, block: u64, values: &[f32]) -> Result<()> {
        if let Some(Place::Hot(_)) = self.tiers.place(block) {
            self.tail.exact_reloads += 1;
        }
        let slot = self.place_hot_exact(block, values)?;
        self.tiers.pin_for_update(slot);
        Ok(())
    }

    /// Gives `block` `values` (its newest, exact) in hot: in place if it is hot with
    /// approximate values (a hot block with exact values keeps them: they are as new, or
    /// newer if dirty), else in a free hot slot or the CLOCK's victim, its warm copy (if any)
    /// dropped and its residency carried on, untouched. Returns the slot.
    pub(super) fn place_hot_exact(&mut self, block: u64, values: &[f32]) -> Result<usize> {
        let used = match self.tiers.place(block) {
            Some(Place::Hot(slot)) => {
                if self.tiers.is_approx(slot) {
                    self.tiers.make_exact(slot, values);
                }
                return Ok(slot);
            }
            // Taken out first, so that the victim moving to warm cannot evict it.
            Some(Place::Warm(slot)) => Some(self.tiers.remove_warm(slot)),
            None => None,
        };
        let slot = if self.tiers.hot_has_room() {
            self.tiers.push_hot(block)?
        } else {
            self.evict_hot_for(block)?
        };
        self.tiers.hot_values_mut(slot).copy_from_slice(values);
        if let Some(used) = used {
            self.tiers.carry_used(slot, used);
        }
        self.tiers.settle(Place::Hot(slot));
        Ok(slot)
    }

    /// One step of the hand-over at the write-back threshold (see the module documentation):
    /// starts it when the dirty blocks reach the threshold, hands over up to
    /// [`HAND_OVER_STEP`] of them without waiting, and ends it once its cursor has swept
    /// every hot slot (so every block dirty at the start has been handed over, as when the
    /// whole hand-over was one call) or nothing is dirty.
    pub(super) fn hand_over_step(&mut self) -> Result<()> {
        if !self.draining {
            if self.tiers.dirty_count() < self.write_back_threshold {
                return Ok(());
            }
            self.draining = true;
            self.drain_swept = 0;
        }
        let started = std::time::Instant::now();
        let slots = self.tiers.counts().0;
        if slots == 0 {
            self.draining = false;
            return Ok(());
        }
        let mut handed = 0;
        let mut looked = 0;
        while handed < HAND_OVER_STEP && looked < STEP_SCAN && self.drain_swept < slots {
            let slot = self.drain_cursor % slots;
            if self.tiers.is_dirty(slot) {
                let block = self.tiers.hot_block(slot);
                let new = self.is_new_block(block);
                if !self.writer.try_submit(block, self.tiers.hot_values(slot))? {
                    break; // the writer is busy: go on from this slot at the next call
                }
                if new {
                    self.count_new_block();
                }
                self.tiers.mark_clean(slot);
                handed += 1;
            }
            self.drain_cursor = (slot + 1) % slots;
            self.drain_swept += 1;
            looked += 1;
        }
        if self.drain_swept >= slots || self.tiers.dirty_count() == 0 {
            self.draining = false;
        }
        self.tail.dirty_hand_overs += 1;
        self.tail.dirty_blocks_handed += handed as u64;
        self.tail.dirty_hand_over_ns += started.elapsed().as_nanos() as u64;
        Ok(())
    }
}
