//! The field's side of the background reader (`reader`): which blocks are requested, where
//! their values go, and the rule that keeps them fresh.
//!
//! - **Requests**: only blocks that are neither resident nor pending are requested; at most
//!   [`Field::read_ahead`] are pending at once (and at most the tiers' slots), so the values
//!   read and not yet placed take at most that many blocks of memory, which
//!   `set_resident_budget` sets aside.
//! - **Placing**: [`Field::collect_reads`] takes the reads done so far, on the caller's thread,
//!   and puts each block into the tiers untouched (hot if it has room, else warm, as the
//!   synchronous gathering does), as if its first query had not come yet.
//! - **Reads for updates** (session 23): an update needs a block's exact values, so a block
//!   read ahead into warm (f16) was read again by the update that used it, and once the hot
//!   tier was full the live predictor avoided none of an update's loads (docs/field.md,
//!   "Session 23"). Reads requested for updates ([`Field::prefetch_for_update`], the
//!   predictor fed by `update`) are *exact*: they are requested for every block that is not
//!   hot with exact values (warm blocks and approximate hot ones too, which the update would
//!   read again), and placed in hot with the values read, into a free slot or the CLOCK's
//!   victim (which moves to warm, as at an update's own load), untouched and marked as read
//!   ahead. The budget is unchanged: the same slots, the same bound on reads pending.
//! - **Freshness**: while a block's read is pending, nothing may change it: every access to a
//!   block (a query's row, an update, `block_values`, `write_block`) first waits for its
//!   pending read and places it ([`Field::await_block`]). A pending block is not resident,
//!   or (an exact read) warm or hot with approximate values, so it has no dirty copy in hot
//!   (only an update dirties a block, and it makes the block exact hot after waiting for its
//!   read) and none can be handed to the writer until its read is placed; the reader takes
//!   the writer's in-flight copy before the store. So the values placed are the block's
//!   newest.

use super::Field;
use crate::error::Result;
use crate::init;
use crate::reader::{Loaded, Reader};
use crate::store::READ_MANY_IN_FLIGHT;
use crate::tiers::Place;

/// Blocks whose reads may be pending at once, by default (`Field::set_read_ahead`).
pub const DEFAULT_READ_AHEAD_BLOCKS: usize = 256;

/// A block read requested ahead and not yet placed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    /// The reader's ticket for the read.
    pub ticket: u64,
    /// Requested for an update: placed in hot with exact values (see the module
    /// documentation).
    pub exact: bool,
}

impl Field {
    /// Sets how many block reads the background reader may have pending at once (0: no
    /// reader; `prefetch` and `query_batch` read on the caller's thread, as before session
    /// 11). Waits for the pending reads and places them first. If a resident budget is set
    /// ([`Field::set_resident_budget`]), it is set again so that it counts the new bound
    /// (which empties the tiers); a resident budget no longer chooses the bound.
    pub fn set_read_ahead(&mut self, blocks: usize) -> Result<()> {
        self.wait_for_reads()?;
        self.read_ahead = blocks;
        self.read_ahead_explicit = true;
        if blocks == 0 {
            self.reader = None;
        }
        if let Some(budget) = self.resident.as_ref().map(|r| r.budget) {
            self.set_resident_budget(budget)?;
        }
        Ok(())
    }

    /// The bound on pending background reads: set by [`Field::set_read_ahead`], else chosen by
    /// [`Field::set_resident_budget`], else [`DEFAULT_READ_AHEAD_BLOCKS`].
    pub fn read_ahead(&self) -> usize {
        self.read_ahead
    }

    /// Waits until every block read requested ahead (by [`Field::prefetch`]) is done, and
    /// places the blocks in the tiers.
    pub fn wait_for_reads(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(reader) = &self.reader {
            reader.wait_all()?;
        }
        self.collect_reads()
    }

    /// Whether the background reader is in use.
    pub(super) fn reads_ahead(&self) -> bool {
        self.read_ahead > 0
    }

    /// Requests reads of those of `blocks` that are neither resident nor pending (`exact`,
    /// for an update: that are not hot with exact values, nor pending), at most `limit` of
    /// them and as far as the bound on pending reads allows. Returns how many of `blocks`
    /// were looked at (a prefix: the caller may offer the rest later) and how many reads
    /// were requested.
    pub(super) fn request_reads(
        &mut self,
        blocks: &[u64],
        limit: usize,
        exact: bool,
    ) -> Result<(usize, usize)> {
        let bound = self.read_ahead.min(self.tiers.capacity());
        let mut wanted = std::mem::take(&mut self.request_buf);
        wanted.clear();
        let mut looked = 0;
        for &block in blocks {
            if self.pending.len() + wanted.len() >= bound || wanted.len() >= limit {
                break;
            }
            looked += 1;
            if let Some(pending) = self.pending.get_mut(&block) {
                // Already coming: an update's request makes it exact.
                pending.exact |= exact;
                continue;
            }
            let wants = match self.tiers.place(block) {
                None => true,
                Some(Place::Warm(_)) => exact,
                Some(Place::Hot(slot)) => exact && self.tiers.is_approx(slot),
            };
            if wants {
                wanted.push(block);
            }
        }
        let requested = wanted.len();
        let outcome = if wanted.is_empty() {
            Ok(())
        } else {
            self.reader_mut().request(&wanted).map(|first| {
                for (k, &block) in wanted.iter().enumerate() {
                    let ticket = first + k as u64;
                    self.pending.insert(block, Pending { ticket, exact });
                }
            })
        };
        self.request_buf = wanted;
        outcome.map(|()| (looked, requested))
    }

    fn reader_mut(&mut self) -> &mut Reader {
        let floats = self.blocking.floats_per_block();
        self.reader.get_or_insert_with(|| {
            Reader::new(
                std::sync::Arc::clone(&self.store),
                self.writer.copies(),
                floats,
                READ_MANY_IN_FLIGHT,
            )
        })
    }

    /// Places the reads done so far (without waiting for the others).
    pub(super) fn collect_reads(&mut self) -> Result<()> {
        let Some(reader) = &self.reader else {
            return Ok(());
        };
        let mut done = std::mem::take(&mut self.done_buf);
        let taken = reader.take_done(&mut done);
        // `place_reads` takes each block's request; whatever a failure left goes here.
        let placed = taken.and_then(|()| self.place_reads(&done));
        for loaded in &done {
            self.pending.remove(&loaded.block);
        }
        if let Some(reader) = &self.reader {
            reader.recycle(done.drain(..).map(|l| l.values));
        }
        self.done_buf = done;
        placed
    }

    fn place_reads(&mut self, done: &[Loaded]) -> Result<()> {
        for loaded in done {
            let request = self.pending.remove(&loaded.block);
            let exact = request.is_some_and(|p| p.exact);
            // Never resident here, or (exact) not hot with exact values (see the module
            // documentation); if it were, its resident copy would be the newer one.
            match self.tiers.place(loaded.block) {
                None => {}
                Some(Place::Hot(slot)) if !self.tiers.is_approx(slot) => continue,
                Some(_) if !exact => continue,
                Some(_) => {}
            }
            if loaded.stored {
                self.place_read(loaded.block, &loaded.values, exact)?;
            } else {
                let mut initial = std::mem::take(&mut self.load_buf);
                initial.resize(self.blocking.floats_per_block(), 0.0);
                init::fill(
                    self.layout.seed,
                    self.layout.init_scale,
                    loaded.block,
                    &mut initial,
                );
                let placed = self.place_read(loaded.block, &initial, exact);
                self.load_buf = initial;
                placed?;
            }
            self.loads += 1;
            self.gathered += 1;
        }
        Ok(())
    }

    /// Places a block read ahead: untouched, as a load (`place_loaded`), or for an update
    /// (`exact`) in hot with its exact values, marked as read ahead.
    pub(super) fn place_read(&mut self, block: u64, values: &[f32], exact: bool) -> Result<()> {
        if !exact {
            return self.place_loaded(block, values);
        }
        let slot = self.place_hot_exact(block, values)?;
        self.tiers.mark_ahead(Place::Hot(slot));
        Ok(())
    }

    /// If `block`'s read is pending, waits for it and places it (with every read done by
    /// then): called before any access to a block, so that no block changes while its read
    /// is pending.
    #[inline]
    pub(super) fn await_block(&mut self, block: u64) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some(&Pending { ticket, .. }) = self.pending.get(&block) else {
            return Ok(());
        };
        if let Some(reader) = &self.reader {
            let started = std::time::Instant::now();
            reader.wait(ticket)?;
            self.tail.read_waits += 1;
            self.tail.read_wait_ns += started.elapsed().as_nanos() as u64;
        }
        self.collect_reads()
    }

    /// Waits for the pending reads and drops their values (the tiers are about to be
    /// replaced).
    pub(super) fn discard_reads(&mut self) -> Result<()> {
        if let Some(reader) = &self.reader {
            reader.wait_all()?;
            let mut done = Vec::new();
            reader.take_done(&mut done)?;
            reader.recycle(done.into_iter().map(|l| l.values));
        }
        self.pending.clear();
        Ok(())
    }
}
