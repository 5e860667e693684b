//! The batch path of [`Field`]: `query_batch`, `prefetch` and the gathering step they share
//! (a batch's blocks found, pinned, read together in block-id order through the store's
//! `read_many`, and placed in the tiers untouched).

use super::{Field, GATHER_CHUNK};
use crate::error::{Error, Result};
use crate::hash::Corners;
use crate::init;
use crate::tiers::Place;

/// A group of `query_batch`'s points (see `next_group`).
struct Group {
    /// The float of `xs` after the group.
    end: usize,
    /// The distinct blocks the group's points touch, sorted.
    blocks: Vec<u64>,
    /// Each point's blocks: point `i`'s are `point_blocks[point_starts[i]..point_starts[i + 1]]`.
    point_blocks: Vec<u64>,
    point_starts: Vec<usize>,
}

impl Field {
    /// [`Field::query`] for many points: `xs` holds `n × dim` coordinates, `out` receives
    /// `n × levels × features` floats.
    ///
    /// Works in groups of points whose blocks take at most a quarter of the budget's slots
    /// (the whole batch when it fits). For each group it gathers the blocks the group needs
    /// (every level, every corner) and pins them (evictions pass over them where they can);
    /// then, with the background reader ([`Field::set_read_ahead`], the default), it requests
    /// the missing ones, answers the points whose blocks are all resident while they load, and
    /// then the others in order, each waiting for its blocks; without the reader it loads the
    /// missing blocks together in block-id order first ([`Field::prefetch`]'s step) and
    /// answers the points in order. Points are answered 8 at a time where they can be: each
    /// level's corners computed for the eight at once (one point per lane with the AVX2
    /// kernel; the same indices and weights as one at a time), then their rows read and
    /// blended point by point, so the results are those of single queries in that order. Under a budget with a warm tier, a block gathered into
    /// warm answers its first query from its f16 copy (a single query would answer from the
    /// values just read), so results may differ from single queries by f16 rounding; with hot
    /// blocks only they are the same.
    pub fn query_batch(&mut self, xs: &[f32], out: &mut [f32]) -> Result<()> {
        let dim = self.layout.dim as usize;
        let width = self.output_len();
        if !xs.len().is_multiple_of(dim) {
            return Err(Error::WrongLength {
                what: "xs",
                got: xs.len(),
                expected: xs.len() / dim * dim,
            });
        }
        Field::check_len("out", out.len(), xs.len() / dim * width)?;
        Field::check_finite("xs", xs)?;
        let mut start = 0;
        while start < xs.len() {
            let group = self.next_group(xs, start);
            let (xs_group, out_group) = (
                &xs[start..group.end],
                &mut out[start / dim * width..group.end / dim * width],
            );
            let answered = if self.reads_ahead() {
                self.answer_reading_ahead(&group, xs_group, out_group)
            } else {
                self.gather(&group.blocks, false).and_then(|_| {
                    let points: Vec<usize> = (0..xs_group.len() / dim).collect();
                    self.answer_points(&points, xs_group, out_group)
                })
            };
            self.tiers.unpin_all();
            answered?;
            start = group.end;
        }
        Ok(())
    }

    /// One group of `query_batch` with the background reader: pins the group's blocks,
    /// requests the missing ones (as far as the budget has room without evicting a pinned
    /// block, and the bound on pending reads allows: the rest as reads complete), answers the
    /// points whose blocks are all resident, then the others in order (8 at a time, through
    /// `answer_points`).
    fn answer_reading_ahead(&mut self, group: &Group, xs: &[f32], out: &mut [f32]) -> Result<()> {
        let dim = self.layout.dim as usize;
        self.tiers.pin(group.blocks.iter().copied());
        let room = self.tiers.room_outside_pins();
        let missing: Vec<u64> = group
            .blocks
            .iter()
            .copied()
            .filter(|&b| self.tiers.place(b).is_none() && !self.pending.contains_key(&b))
            .take(room)
            .collect();
        let mut offered = self.request_reads(&missing, usize::MAX, false)?.0;
        let mut deferred = Vec::new();
        // Points whose blocks are all resident, answered 8 at a time (`answer_points`).
        let mut ready = Vec::with_capacity(8);
        for i in 0..xs.len() / dim {
            self.collect_reads()?;
            if offered < missing.len() {
                offered += self
                    .request_reads(&missing[offered..], usize::MAX, false)?
                    .0;
            }
            let blocks = &group.point_blocks[group.point_starts[i]..group.point_starts[i + 1]];
            if blocks.iter().all(|&b| self.tiers.place(b).is_some()) {
                ready.push(i);
                if ready.len() == 8 {
                    self.answer_points(&ready, xs, out)?;
                    ready.clear();
                }
            } else {
                deferred.push(i);
            }
        }
        self.answer_points(&ready, xs, out)?;
        for chunk in deferred.chunks(8) {
            self.collect_reads()?;
            if offered < missing.len() {
                offered += self
                    .request_reads(&missing[offered..], usize::MAX, false)?
                    .0;
            }
            self.answer_points(chunk, xs, out)?;
        }
        Ok(())
    }

    /// Answers the points `points` (indices into `xs` and `out`, checked): 8 at a time
    /// through `query8`, the rest one by one.
    fn answer_points(&mut self, points: &[usize], xs: &[f32], out: &mut [f32]) -> Result<()> {
        let (dim, width) = (self.layout.dim as usize, self.output_len());
        let mut chunks = points.chunks_exact(8);
        for eight in &mut chunks {
            self.query8(eight.try_into().expect("8 points"), xs, out)?;
        }
        for &i in chunks.remainder() {
            self.query_point(
                &xs[i * dim..(i + 1) * dim],
                &mut out[i * width..(i + 1) * width],
            )?;
        }
        Ok(())
    }

    /// Eight points' queries (`points`: indices into `xs` and `out`, checked): each level's
    /// corners for the eight at once (`Kernel::corners8`: one point per lane with AVX2; the
    /// same integers and floats as one point at a time), then each point's rows and blends in
    /// `query_point`'s order (point by point, level by level), so the tiers see the touches
    /// of eight `query_point` calls and the results are theirs.
    fn query8(&mut self, points: &[usize; 8], xs: &[f32], out: &mut [f32]) -> Result<()> {
        let (dim, width) = (self.layout.dim as usize, self.output_len());
        let features = self.blocking.features;
        let levels = self.grids.len();
        let mut tiles = [0u64; 8];
        let mut local = [[0f32; 3]; 8];
        for (j, &i) in points.iter().enumerate() {
            (tiles[j], local[j]) = self.tile_of(&xs[i * dim..(i + 1) * dim]);
        }
        // At most 32 levels × 8 points (16 KiB on the stack).
        let mut corners = [[Corners::default(); 8]; 32];
        for (level, eight) in corners.iter_mut().enumerate().take(levels) {
            self.kernel.corners8(&self.grids[level], dim, &local, eight);
        }
        for (j, &i) in points.iter().enumerate() {
            for (level, eight) in corners.iter().enumerate().take(levels) {
                let base = self.blocking.table_base(tiles[j], level);
                let at = i * width + level * features;
                self.answer_level(&eight[j], base, &mut out[at..at + features], &[])?;
            }
        }
        Ok(())
    }

    /// The points of `xs` from float `start` whose blocks, gathered together, take at most a
    /// quarter of the budget's slots (at least one point).
    fn next_group(&self, xs: &[f32], start: usize) -> Group {
        let dim = self.layout.dim as usize;
        let limit = (self.tiers.capacity() / 4).max(1);
        let mut seen = std::collections::HashSet::new();
        let mut touched = Vec::new();
        let mut point_blocks = Vec::new();
        let mut point_starts = vec![0];
        let mut end = start;
        while end < xs.len() {
            touched.clear();
            // The points were checked (length, finite) by the caller.
            let _ = self.blocks_of(&xs[end..end + dim], &mut touched);
            let new = touched.iter().filter(|(_, b)| !seen.contains(b)).count();
            if end > start && seen.len() + new > limit {
                break;
            }
            seen.extend(touched.iter().map(|&(_, b)| b));
            point_blocks.extend(touched.iter().map(|&(_, b)| b));
            point_starts.push(point_blocks.len());
            end += dim;
        }
        let mut blocks: Vec<u64> = seen.into_iter().collect();
        blocks.sort_unstable();
        Group {
            end,
            blocks,
            point_blocks,
            point_starts,
        }
    }

    /// Exact look-ahead: loads the blocks that queries at `xs` (`n × dim` coordinates) will
    /// need, in block-id order. Nothing is queried and no access is counted: a block loaded
    /// here enters its tier untouched, as if its first query had not come yet.
    ///
    /// With the background reader ([`Field::set_read_ahead`], the default) it requests the
    /// reads of the blocks that are neither resident nor pending, as far as the budget has
    /// room for them without evicting any of `xs`'s blocks and the bound on pending reads
    /// allows (the others are left to the queries' own loads), and returns at once; the
    /// blocks are placed as their reads complete, at the latest when a query or update needs
    /// them ([`Field::wait_for_reads`] waits for all of them). `xs`'s blocks stay pinned
    /// (evictions pass over them while they can) until the next `prefetch` or `query_batch`. Without the reader
    /// it loads them on the caller's thread, as far as the budget has room without evicting
    /// any of them. Returns how many blocks were requested (loaded, without the reader).
    pub fn prefetch(&mut self, xs: &[f32]) -> Result<usize> {
        self.prefetch_points(xs, false)
    }

    /// [`Field::prefetch`] for updates at `xs`: an update needs exact values, so the blocks
    /// that are not hot with exact values (not resident, warm, or hot with approximate
    /// values) are read, and placed in hot with their exact values (a free slot or the
    /// CLOCK's victim, which moves to warm), untouched (see `read_ahead`). A block read into
    /// warm, as `prefetch` reads once hot is full, would be read again by its update.
    pub fn prefetch_for_update(&mut self, xs: &[f32]) -> Result<usize> {
        self.prefetch_points(xs, true)
    }

    /// [`Field::prefetch`], or with `exact` [`Field::prefetch_for_update`].
    pub(super) fn prefetch_points(&mut self, xs: &[f32], exact: bool) -> Result<usize> {
        let dim = self.layout.dim as usize;
        if !xs.len().is_multiple_of(dim) {
            return Err(Error::WrongLength {
                what: "xs",
                got: xs.len(),
                expected: xs.len() / dim * dim,
            });
        }
        Field::check_finite("xs", xs)?;
        let needed = self.batch_blocks(xs)?;
        if self.reads_ahead() {
            self.collect_reads()?;
            // The pins stay until the next prefetch or batch: evictions pass over these
            // blocks while they load and until they are used.
            self.tiers.pin(needed.iter().copied());
            let room = self
                .tiers
                .room_outside_pins()
                .saturating_sub(self.pending.len());
            return Ok(self.request_reads(&needed, room, exact)?.1);
        }
        let loaded = self.gather(&needed, exact);
        self.tiers.unpin_all();
        loaded
    }

    /// The distinct blocks that queries at `xs` touch, sorted by id.
    fn batch_blocks(&self, xs: &[f32]) -> Result<Vec<u64>> {
        let mut touched = Vec::new();
        for x in xs.chunks_exact(self.layout.dim as usize) {
            self.blocks_of(x, &mut touched)?;
        }
        let mut blocks: Vec<u64> = touched.into_iter().map(|(_, b)| b).collect();
        blocks.sort_unstable();
        blocks.dedup();
        Ok(blocks)
    }

    /// The blocks a query at `x` touches, appended to `out` as `(level, block)` in the order
    /// the query reaches them: level by level, each level's distinct blocks in corner order.
    /// Computes indices only; loads nothing.
    pub fn blocks_of(&self, x: &[f32], out: &mut Vec<(u8, u64)>) -> Result<()> {
        let dim = self.layout.dim as usize;
        Field::check_len("x", x.len(), dim)?;
        Field::check_finite("x", x)?;
        let (tile, local) = self.tile_of(x);
        for level in 0..self.grids.len() {
            let (corners, base) = self.level_corners(tile, level, local);
            let start = out.len();
            for &entry in &corners.index[..1 << dim] {
                let (block, _) = self.blocking.locate(base, entry);
                if !out[start..].iter().any(|&(_, b)| b == block) {
                    out.push((level as u8, block));
                }
            }
        }
        Ok(())
    }

    /// Pins `needed` (sorted, distinct) and loads those of its blocks that are not resident,
    /// in id order, [`GATHER_CHUNK`] at a time, as many as fit without evicting a pinned
    /// block; each enters hot if hot has room, else warm (else hot in place of an unpinned
    /// victim), untouched; with `exact` (for updates), those that are not hot with exact
    /// values, placed in hot with them (`Field::place_read`). Returns how many were loaded.
    /// The caller unpins.
    fn gather(&mut self, needed: &[u64], exact: bool) -> Result<usize> {
        self.tiers.pin(needed.iter().copied());
        let room = self.tiers.room_outside_pins();
        let missing: Vec<u64> = needed
            .iter()
            .copied()
            .filter(|&b| match self.tiers.place(b) {
                None => true,
                Some(Place::Hot(slot)) => exact && self.tiers.is_approx(slot),
                Some(Place::Warm(_)) => exact,
            })
            .take(room)
            .collect();
        // One buffer for every chunk, kept between calls (no allocation, no fresh pages to
        // fault in per batch); taken out of the field while blocks are placed.
        let floats = self.blocking.floats_per_block();
        let mut buf = std::mem::take(&mut self.gather_buf);
        let want = GATHER_CHUNK.min(missing.len()) * floats;
        if buf.len() < want {
            buf.resize(want, 0.0);
        }
        let placed = (|| -> Result<()> {
            for chunk in missing.chunks(GATHER_CHUNK) {
                let values = &mut buf[..chunk.len() * floats];
                self.read_blocks(chunk, values)?;
                for (&block, values) in chunk.iter().zip(values.chunks_exact(floats)) {
                    self.place_read(block, values, exact)?;
                }
            }
            Ok(())
        })();
        self.gather_buf = buf;
        placed?;
        self.gathered += missing.len() as u64;
        Ok(missing.len())
    }

    /// Reads `blocks` (sorted ids) from the file, or their initial values where they have no
    /// stored version, into `buf` (`floats_per_block` floats each, in order). The one place
    /// the batch path does I/O: the store's `read_many`, several reads in flight (io_uring,
    /// or threads).
    pub(super) fn read_blocks(&mut self, blocks: &[u64], buf: &mut [f32]) -> Result<()> {
        self.fetch_blocks(blocks, buf)?;
        self.loads += blocks.len() as u64;
        Ok(())
    }

    /// [`Field::read_blocks`] without counting the blocks as loads (a single query's joint
    /// read counts each block when it uses it: `Field::load`). `blocks` need not be sorted.
    pub(super) fn fetch_blocks(&self, blocks: &[u64], buf: &mut [f32]) -> Result<()> {
        let floats = self.blocking.floats_per_block();
        let mut values: Vec<&mut [f32]> = buf.chunks_exact_mut(floats).collect();
        debug_assert_eq!(values.len(), blocks.len());
        // Blocks in flight to the file read from their copies; the rest from the store.
        let mut from_copy = vec![false; blocks.len()];
        if !self.writer.is_idle() {
            for ((&block, v), c) in blocks.iter().zip(&mut values).zip(&mut from_copy) {
                *c = self.writer.copy_in_flight(block, v);
            }
        }
        let found = {
            let (ids, mut outs): (Vec<u64>, Vec<&mut [f32]>) = blocks
                .iter()
                .zip(values.iter_mut())
                .zip(&from_copy)
                .filter(|(_, &c)| !c)
                .map(|((&b, v), _)| (b, &mut **v))
                .unzip();
            self.store().read_many(&ids, &mut outs)?
        };
        let mut found = found.into_iter();
        for ((&block, v), &c) in blocks.iter().zip(&mut values).zip(&from_copy) {
            if !c && !found.next().expect("one result per block read") {
                init::fill(self.layout.seed, self.layout.init_scale, block, v);
            }
        }
        Ok(())
    }

    /// Puts a block just read (not resident) into the tiers, untouched (see `gather`).
    pub(super) fn place_loaded(&mut self, block: u64, values: &[f32]) -> Result<()> {
        let place = if self.tiers.hot_has_room() {
            Place::Hot(self.tiers.push_hot(block)?)
        } else if let Some(slot) = self.tiers.insert_warm(block, values) {
            self.tiers.settle(Place::Warm(slot));
            self.tiers.mark_ahead(Place::Warm(slot));
            return Ok(());
        } else {
            Place::Hot(self.evict_hot_for(block)?)
        };
        let Place::Hot(slot) = place else {
            unreachable!("warm placements returned above")
        };
        self.tiers.hot_values_mut(slot).copy_from_slice(values);
        self.tiers.settle(place);
        self.tiers.mark_ahead(place);
        Ok(())
    }
}
