//! Single queries: [`Field::query`], and the row-by-row walk through the tiers that
//! `query_batch` shares (`answer_level`, `read_row`).
//!
//! ```text
//! query ─ query_point: every level's corners first (cheap), then level by level
//!           └─ answer_level: each corner's row ─ read_row ─┬─ hot: copy the row
//!                                                          ├─ warm: f16 row, or promote
//!                                                          └─ miss: load (first miss of the
//!                                                             query: joint read, below)
//! ```
//!
//! **Joint reads** (session 21): a query touches up to `levels × 2^dim` blocks, and before, each
//! block it missed was read when its level reached it, one read after another, so a query
//! missing *k* blocks waited for *k* disk reads in series (docs/field.md, "Session 20"). Now,
//! at a query's first miss, `read_query_blocks` finds the blocks of that level and every level
//! after it that are neither resident nor pending on the background reader (at most
//! [`GATHER_CHUNK`], in the order the query reaches them), and reads them together through
//! the store's `read_many` (several reads in flight: io_uring, or threads; blocks in flight to
//! the writer from their copies) into the batch path's buffer, which the resident budget
//! already counts. Nothing is placed then: the walk goes on exactly as before, and each miss
//! takes its block's values from that buffer instead of reading the file (`Field::load`). So
//! the tiers see the same touches, insertions, promotions and evictions in the same order, the
//! statistics count the same loads and misses, and the answers are the same floats; only the
//! waiting is done once. The values read are the blocks' newest: they were not resident, a
//! query changes no block, and the writer's in-flight copies hold what the file will.
//! A block beyond the first [`GATHER_CHUNK`] starts another joint read at its miss, once the
//! first read's blocks are all used; a block that was resident at the joint read and that the
//! query's own loads evicted before it reached it (a hot tier smaller than one query's
//! blocks) is read alone at its miss, as before.
//!
//! [`GATHER_CHUNK`]: super::GATHER_CHUNK

use super::{Field, GATHER_CHUNK};
use crate::error::Result;
use crate::hash::Corners;
use crate::tiers::Place;

// A joint read's blocks are marked used in a `u64` (`Field::joint_taken`).
const _: () = assert!(GATHER_CHUNK <= 64);

/// The most levels a layout has.
const MAX_LEVELS: usize = crate::layout::bounds::LEVELS.1 as usize;

impl Field {
    /// The encoding of the point `x` (`dim` finite coordinates in `[0, 1]`, clamped) into `out`
    /// (`levels × features` floats, level 0 first). The blocks it misses are read together
    /// (see the module documentation), unless [`Field::set_joint_reads`] turned that off.
    ///
    /// With the live predictor on ([`Field::set_predictor`]), `x` first feeds it, and its
    /// prediction is prefetched.
    pub fn query(&mut self, x: &[f32], out: &mut [f32]) -> Result<()> {
        let dim = self.layout.dim as usize;
        Field::check_len("x", x.len(), dim)?;
        Field::check_len("out", out.len(), self.output_len())?;
        Field::check_finite("x", x)?;
        if self.live.is_some() {
            self.predict_from(x, false)?;
        }
        self.query_point(x, out)
    }

    /// Whether a single query reads the blocks it misses together (the default since session
    /// 21), or one at a time as its levels reach them (as before; the answers and statistics
    /// are the same either way, only the waiting differs).
    pub fn set_joint_reads(&mut self, on: bool) {
        self.joint_reads = on;
    }

    /// [`Field::query`] for a checked point, without the predictor.
    pub(super) fn query_point(&mut self, x: &[f32], out: &mut [f32]) -> Result<()> {
        let features = self.blocking.features;
        let levels = self.grids.len();
        let (tile, local) = self.tile_of(x);
        let mut cells = [(Corners::default(), 0u64); MAX_LEVELS];
        for (level, cell) in cells.iter_mut().enumerate().take(levels) {
            *cell = self.level_corners(tile, level, local);
        }
        let joint = self.joint_reads;
        let answered = (|| {
            for level in 0..levels {
                let (corners, base) = &cells[level];
                // The levels a joint read looks at: this one and those after it.
                let ahead = if joint { &cells[level..levels] } else { &[] };
                self.answer_level(
                    corners,
                    *base,
                    &mut out[level * features..(level + 1) * features],
                    ahead,
                )?;
            }
            Ok(())
        })();
        self.joint.clear();
        self.joint_taken = 0;
        answered
    }

    /// One level of a query: the corners' rows through the tiers (`read_row`), blended into
    /// `out` (`features` floats). `ahead`: the query's levels from this one on, for a joint
    /// read at a miss (empty: none).
    #[inline]
    pub(super) fn answer_level(
        &mut self,
        corners: &Corners,
        base: u64,
        out: &mut [f32],
        ahead: &[(Corners, u64)],
    ) -> Result<()> {
        let features = self.blocking.features;
        let corner_count = 1 << self.layout.dim;
        let mut rows = [[0f32; 8]; 8];
        // Corners in the block of the corner before, found in hot, skip its look-up.
        let mut last_hot: Option<(u64, usize)> = None;
        for (c, row) in rows.iter_mut().take(corner_count).enumerate() {
            let (block, at) = self.blocking.locate(base, corners.index[c]);
            match last_hot {
                Some((last, slot)) if last == block => {
                    self.read_hot_row(slot, at, &mut row[..features])
                }
                _ => {
                    last_hot = self
                        .read_row(block, at, &mut row[..features], ahead)?
                        .map(|slot| (block, slot));
                }
            }
        }
        let slices: [&[f32]; 8] = std::array::from_fn(|c| &rows[c][..features]);
        self.kernel
            .blend(&slices[..corner_count], &corners.weight, out);
        Ok(())
    }

    /// Copies `out.len()` features of `block` from float `at` into `out`, for a query.
    /// - hot: its values (exact, or within f16 rounding if promoted from warm);
    /// - warm: promoted to hot from its f16 copy if there is room or this is its second touch
    ///   since it entered warm (its count reached [`Field::promote_at`]), else answered from
    ///   its f16 copy;
    /// - not resident: made hot if there is room (or no warm tier), else loaded into warm and
    ///   answered from the values just read; a miss first reads the query's missing blocks
    ///   of the levels `ahead` together, unless they were (`read_query_blocks`).
    ///
    /// Returns the hot slot the row came from, if it came from hot: until the next call
    /// that may move blocks, [`Field::read_hot_row`] reads another row of that block.
    fn read_row(
        &mut self,
        block: u64,
        at: usize,
        out: &mut [f32],
        ahead: &[(Corners, u64)],
    ) -> Result<Option<usize>> {
        self.await_block(block)?;
        let entry = at / self.blocking.features;
        let slot = match self.tiers.touch(block) {
            Some(Place::Hot(slot)) => slot,
            Some(Place::Warm(slot)) => {
                if !self.tiers.hot_has_room() && self.tiers.warm_count(slot) < self.promote_at {
                    self.tiers.warm_values(slot, at, out);
                    self.tiers.mark_used(Place::Warm(slot), entry);
                    self.warm_reads += 1;
                    return Ok(None);
                }
                self.promote_from_warm(block, slot)?
            }
            None if !self.tiers.hot_has_room() && self.tiers.has_warm() => {
                self.tail.misses += 1;
                self.read_query_blocks(block, ahead)?;
                let values = self.load(block)?;
                if let Some(slot) = self.tiers.insert_warm(block, &values) {
                    self.tiers.mark_used(Place::Warm(slot), entry);
                }
                out.copy_from_slice(&values[at..at + out.len()]);
                return Ok(None);
            }
            None => {
                self.tail.misses += 1;
                self.read_query_blocks(block, ahead)?;
                self.hot_slot(block)?
            }
        };
        self.hot_row(slot, at, out);
        Ok(Some(slot))
    }

    /// The joint read at a query's miss of `block` (not resident, not pending): unless the
    /// current joint read holds `block`, reads `block` and the other blocks of the levels
    /// `ahead` that are neither resident nor pending, at most [`GATHER_CHUNK`] in the order
    /// the query reaches them, together into the batch path's buffer (`Field::load` takes
    /// them from there). Reads nothing for a single block (`load` reads it as fast) or when
    /// `ahead` is empty.
    fn read_query_blocks(&mut self, block: u64, ahead: &[(Corners, u64)]) -> Result<()> {
        if ahead.is_empty() || self.joint.contains(&block) {
            return Ok(());
        }
        if (self.joint_taken.count_ones() as usize) < self.joint.len() {
            // Blocks of the joint read are still to be used: this one was resident at the
            // read and evicted since by the query's own loads. It is read alone, so that
            // nothing is read twice.
            return Ok(());
        }
        let corner_count = 1 << self.layout.dim;
        let mut wanted = std::mem::take(&mut self.joint);
        wanted.clear();
        wanted.push(block);
        let mut last = block;
        'levels: for (corners, base) in ahead {
            for &entry in &corners.index[..corner_count] {
                let (b, _) = self.blocking.locate(*base, entry);
                if b == last {
                    continue;
                }
                last = b;
                if wanted.contains(&b)
                    || self.tiers.place(b).is_some()
                    || self.pending.contains_key(&b)
                {
                    continue;
                }
                wanted.push(b);
                if wanted.len() == GATHER_CHUNK {
                    break 'levels;
                }
            }
        }
        if wanted.len() < 2 {
            wanted.clear();
            self.joint = wanted;
            return Ok(());
        }
        let started = std::time::Instant::now();
        let floats = self.blocking.floats_per_block();
        let mut buf = std::mem::take(&mut self.gather_buf);
        if buf.len() < wanted.len() * floats {
            buf.resize(wanted.len() * floats, 0.0);
        }
        let read = self.fetch_blocks(&wanted, &mut buf[..wanted.len() * floats]);
        self.gather_buf = buf;
        self.tail.load_ns += started.elapsed().as_nanos() as u64;
        if read.is_err() {
            wanted.clear();
        } else {
            self.tail.joint_reads += 1;
            self.tail.joint_blocks += wanted.len() as u64;
        }
        self.joint = wanted;
        self.joint_taken = 0;
        read
    }

    /// [`Field::read_row`] of a block that the previous `read_row` found in hot slot `slot`,
    /// nothing having run in between: the same touch, mark and copy, without the look-up (the
    /// block has no read pending: `read_row` waited for it).
    fn read_hot_row(&mut self, slot: usize, at: usize, out: &mut [f32]) {
        self.tiers.touch_place(Place::Hot(slot));
        self.hot_row(slot, at, out);
    }

    /// Marks the entry at float `at` of hot slot `slot` used and copies its features to `out`.
    fn hot_row(&mut self, slot: usize, at: usize, out: &mut [f32]) {
        self.tiers
            .mark_used(Place::Hot(slot), at / self.blocking.features);
        out.copy_from_slice(&self.tiers.hot_values(slot)[at..at + out.len()]);
    }
}
