//! [`Field`]: the API. A multiresolution hash-grid feature field (Instant-NGP's encoding) whose
//! tables live in a crash-safe sparse block file, with the blocks in use held in memory.
//!
//! A query (or update) at `x` finds `x`'s tile, then at every level the cell around `x`, its
//! `2^dim` vertices' table entries (`kernel::corners`), the blocks holding them (loaded from the
//! file, or given their initial values, the first time), and interpolates their features
//! (`kernel::blend`); the output concatenates the levels. An update applies one SGD step to the
//! same entries, each receiving its interpolation weight's share of the gradient, and marks
//! their blocks dirty; dirty blocks reach the file on [`Field::flush`], when their number
//! reaches the write-back threshold, and when the field is dropped.
//!
//! Not built yet: a memory budget (every block touched stays resident), the warm (f16) and
//! cold (int8) tiers, prefetch.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::hash::{Corners, LevelGrid};
use crate::hot::{FrameId, HotFrames};
use crate::init;
use crate::kernel::Kernel;
use crate::layout::{Blocking, Layout};
use crate::store::{BlockStore, CheckReport};

/// Dirty blocks that trigger a write-back by default.
pub const DEFAULT_WRITE_BACK_THRESHOLD: usize = 1024;

#[derive(Clone, Copy, Debug)]
struct Resident {
    frame: FrameId,
    dirty: bool,
}

/// Counts describing a field's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Blocks held in memory.
    pub resident_blocks: usize,
    /// Resident blocks changed since their last write-back.
    pub dirty_blocks: usize,
    /// Blocks with a version in the file.
    pub stored_blocks: usize,
    /// Bytes of 2 MiB regions obtained from SACS for resident blocks.
    pub hot_region_bytes: usize,
}

/// A paged neural field backed by one file.
pub struct Field {
    layout: Layout,
    grids: Vec<LevelGrid>,
    blocking: Blocking,
    kernel: Kernel,
    store: BlockStore,
    frames: HotFrames,
    resident: HashMap<u64, Resident>,
    dirty: usize,
    write_back_threshold: usize,
}

impl Field {
    /// Creates a field file at `path` (which must not exist) with the given layout.
    pub fn create(path: impl AsRef<Path>, layout: Layout) -> Result<Field> {
        let store = BlockStore::create(path.as_ref(), &layout)?;
        Ok(Field::with_store(layout, store))
    }

    /// Opens an existing field file; time proportional to the blocks stored in it.
    pub fn open(path: impl AsRef<Path>) -> Result<Field> {
        let (layout, store) = BlockStore::open(path.as_ref())?;
        Ok(Field::with_store(layout, store))
    }

    fn with_store(layout: Layout, store: BlockStore) -> Field {
        let grids = layout
            .resolutions()
            .into_iter()
            .map(|r| LevelGrid::new(r, layout.dim, layout.log2_table))
            .collect();
        let blocking = *store.blocking();
        Field {
            layout,
            grids,
            blocking,
            kernel: Kernel::best(),
            store,
            frames: HotFrames::new(blocking.floats_per_block()),
            resident: HashMap::new(),
            dirty: 0,
            write_back_threshold: DEFAULT_WRITE_BACK_THRESHOLD,
        }
    }

    /// The field's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Floats per query output: `levels × features`.
    pub fn output_len(&self) -> usize {
        self.layout.output_len()
    }

    /// Blocks per table, entries per block and block ids, as this field cuts its tables.
    pub fn blocking(&self) -> &Blocking {
        &self.blocking
    }

    /// The kernel in use (the best one detected, unless set).
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Chooses the kernel (e.g. [`Kernel::scalar`] to compare).
    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.kernel = kernel;
    }

    /// Sets how many dirty blocks trigger a write-back (at least 1).
    pub fn set_write_back_threshold(&mut self, blocks: usize) {
        self.write_back_threshold = blocks.max(1);
    }

    fn check_len(what: &'static str, got: usize, expected: usize) -> Result<()> {
        if got != expected {
            return Err(Error::WrongLength {
                what,
                got,
                expected,
            });
        }
        Ok(())
    }

    /// The tile holding `x` and `x`'s coordinates inside it, in `[0, 1]`.
    fn tile_of(&self, x: &[f32]) -> (u64, [f32; 3]) {
        let tiles = self.layout.tiles_per_axis;
        let mut tile = 0u64;
        let mut stride = 1u64;
        let mut local = [0f32; 3];
        for (d, &xd) in x.iter().enumerate() {
            let p = xd.clamp(0.0, 1.0) * tiles as f32;
            let c = (p.floor() as u32).min(tiles - 1);
            local[d] = p - c as f32;
            tile += c as u64 * stride;
            stride *= tiles as u64;
        }
        (tile, local)
    }

    /// The frame holding `block`, loading the block (or giving it its initial values) first
    /// if it is not resident.
    fn frame_of(&mut self, block: u64) -> Result<FrameId> {
        if let Some(r) = self.resident.get(&block) {
            return Ok(r.frame);
        }
        let frame = self.frames.alloc()?;
        let buf = self.frames.frame_mut(frame);
        match self.store.read(block, buf) {
            Ok(true) => {}
            Ok(false) => init::fill(self.layout.seed, self.layout.init_scale, block, buf),
            Err(e) => {
                self.frames.free(frame);
                return Err(e);
            }
        }
        self.resident.insert(
            block,
            Resident {
                frame,
                dirty: false,
            },
        );
        Ok(frame)
    }

    /// A level's cell around `x` (already tile-local): its corners and their table's first
    /// block.
    fn level_corners(&self, tile: u64, level: usize, local: [f32; 3]) -> (Corners, u64) {
        let grid = &self.grids[level];
        let (cell, frac) = grid.locate(local, self.layout.dim as usize);
        let mut corners = Corners::default();
        self.kernel.corners(grid, cell, frac, &mut corners);
        (corners, self.blocking.table_base(tile, level))
    }

    /// The encoding of the point `x` (`dim` coordinates in `[0, 1]`, clamped) into `out`
    /// (`levels × features` floats, level 0 first).
    pub fn query(&mut self, x: &[f32], out: &mut [f32]) -> Result<()> {
        let dim = self.layout.dim as usize;
        Field::check_len("x", x.len(), dim)?;
        Field::check_len("out", out.len(), self.output_len())?;
        let features = self.blocking.features;
        let corner_count = 1 << dim;
        let (tile, local) = self.tile_of(x);
        for level in 0..self.grids.len() {
            let (corners, base) = self.level_corners(tile, level, local);
            let mut rows = [(FrameId::default(), 0usize); 8];
            for (c, row) in rows.iter_mut().take(corner_count).enumerate() {
                let (block, at) = self.blocking.locate(base, corners.index[c]);
                *row = (self.frame_of(block)?, at);
            }
            let frames = &self.frames;
            let slices: [&[f32]; 8] = std::array::from_fn(|c| {
                let (frame, at) = rows[c % corner_count];
                &frames.frame(frame)[at..at + features]
            });
            let level_out = &mut out[level * features..(level + 1) * features];
            self.kernel
                .blend(&slices[..corner_count], &corners.weight, level_out);
        }
        Ok(())
    }

    /// [`Field::query`] for many points: `xs` holds `n × dim` coordinates, `out` receives
    /// `n × levels × features` floats.
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
        for (x, o) in xs.chunks_exact(dim).zip(out.chunks_exact_mut(width)) {
            self.query(x, o)?;
        }
        Ok(())
    }

    /// One SGD step at `x`: `grad` is the loss gradient with respect to the query output
    /// (`levels × features` floats); each vertex's entry moves by `−lr × weight × grad` of its
    /// level, the gradient of the interpolation.
    pub fn update(&mut self, x: &[f32], grad: &[f32], lr: f32) -> Result<()> {
        let dim = self.layout.dim as usize;
        Field::check_len("x", x.len(), dim)?;
        Field::check_len("grad", grad.len(), self.output_len())?;
        let features = self.blocking.features;
        let (tile, local) = self.tile_of(x);
        for level in 0..self.grids.len() {
            let (corners, base) = self.level_corners(tile, level, local);
            let level_grad = &grad[level * features..(level + 1) * features];
            for c in 0..1 << dim {
                let (block, at) = self.blocking.locate(base, corners.index[c]);
                let frame = self.frame_of(block)?;
                let resident = self.resident.get_mut(&block).expect("just made resident");
                if !resident.dirty {
                    resident.dirty = true;
                    self.dirty += 1;
                }
                let row = &mut self.frames.frame_mut(frame)[at..at + features];
                self.kernel.axpy(-lr * corners.weight[c], level_grad, row);
            }
        }
        if self.dirty >= self.write_back_threshold {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every dirty block back to the file and syncs it (see `store` for the crash
    /// safety of this step).
    pub fn flush(&mut self) -> Result<()> {
        if self.dirty == 0 {
            return Ok(());
        }
        let frames = &self.frames;
        let dirty: Vec<(u64, &[f32])> = self
            .resident
            .iter()
            .filter(|(_, r)| r.dirty)
            .map(|(&block, r)| (block, frames.frame(r.frame)))
            .collect();
        self.store.write_back(&dirty)?;
        for r in self.resident.values_mut() {
            r.dirty = false;
        }
        self.dirty = 0;
        Ok(())
    }

    /// The current values of a block (`entries_per_block × features` floats), as a query
    /// would see them.
    pub fn block_values(&mut self, block: u64) -> Result<Vec<f32>> {
        let frame = self.frame_of(block)?;
        Ok(self.frames.frame(frame).to_vec())
    }

    /// Ids of the blocks with a version in the file, sorted.
    pub fn stored_blocks(&self) -> Vec<u64> {
        self.store.present_blocks()
    }

    /// Ids of the blocks held in memory, sorted.
    pub fn resident_blocks(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.resident.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Reads every stored block's slots and counts those that check out (a diagnostic; it
    /// reads the whole file).
    pub fn check_file(&mut self) -> Result<CheckReport> {
        self.store.check()
    }

    /// The file's length and the bytes it occupies on disk.
    pub fn disk_usage(&self) -> Result<(u64, u64)> {
        self.store.disk_usage()
    }

    /// Counts of resident, dirty and stored blocks.
    pub fn stats(&self) -> Stats {
        Stats {
            resident_blocks: self.resident.len(),
            dirty_blocks: self.dirty,
            stored_blocks: self.store.present_count(),
            hot_region_bytes: self.frames.region_bytes(),
        }
    }
}

impl Drop for Field {
    /// Writes dirty blocks back; an error here is lost (call [`Field::flush`] to see it).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
