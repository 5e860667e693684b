//! Baseline (a) of issue 13's benchmark: the same field as one `memmap2` mapping of a plain f32
//! file, paged by the kernel alone (its page cache, fault-around and readahead), with no tiers,
//! no budget of its own and no prefetch. The benchmark's script holds the page cache to the
//! budget with a cgroup v1 memory group.
//!
//! The file holds every table's entries in block-id order, `tiles × levels × table entries ×
//! features` f32 (native byte order, no header): block `b`'s floats start at float
//! `b × floats_per_block`, so entry `e` of the table whose first block is `t` is at float
//! `(t × entries_per_block + e) × features`, the place `Blocking::locate` gives inside the
//! field file's blocks. A query finds its cells with the crate's `LevelGrid` and
//! `Kernel::corners`, and blends the rows straight from the mapping with `Kernel::blend` (the
//! same kernel as [`Field`]), so both answer with the same numbers when the field's blocks are
//! exact (hot); an update is `Kernel::axpy` on the mapped rows, and [`MmapField::flush`] is
//! `msync`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use memmap2::{MmapMut, MmapOptions};

use crate::error::{Error, Result};
use crate::field::Field;
use crate::hash::{Corners, LevelGrid};
use crate::kernel::Kernel;
use crate::layout::{Blocking, Layout};
use crate::tiers::Budget;

/// Hot blocks kept while a field file is exported (16 MiB).
const EXPORT_HOT_BYTES: usize = 16 << 20;

/// Writes the current values of every block of the field file at `field_path` into a plain f32
/// file at `out` (replaced if it exists), in block-id order, and returns the field's layout.
/// Holds at most 16 MiB of the field's blocks in memory meanwhile.
pub fn export_f32(field_path: &Path, out: &Path) -> Result<Layout> {
    let mut field = Field::open(field_path)?;
    field.set_budget(Budget {
        hot_bytes: EXPORT_HOT_BYTES,
        warm_bytes: 0,
    })?;
    let layout = *field.layout();
    let blocks = field.blocking().block_count(&layout);
    let mut writer = BufWriter::with_capacity(1 << 20, File::create(out)?);
    for block in 0..blocks {
        let values = field.block_values(block)?;
        writer.write_all(bytemuck::cast_slice(&values))?;
    }
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(layout)
}

/// A field answered from one shared, writable mapping of a plain f32 file (see the module
/// docs for the file's order).
pub struct MmapField {
    layout: Layout,
    grids: Vec<LevelGrid>,
    blocking: Blocking,
    kernel: Kernel,
    map: MmapMut,
}

impl MmapField {
    /// Maps the f32 file at `path`, which must hold exactly `layout`'s tables
    /// ([`Layout::logical_bytes`]); the layout is validated first.
    pub fn open(path: &Path, layout: Layout) -> Result<MmapField> {
        layout.validate()?;
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let expected = layout.logical_bytes();
        let len = file.metadata()?.len() as u128;
        if len != expected {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: {len} bytes, the layout's tables take {expected}",
                    path.display()
                ),
            )));
        }
        // SAFETY: the mapping is shared with the file; memory safety needs that no one
        // truncates the file while it is mapped (accesses past the new end would fault) and
        // that its bytes are only read as f32 (every bit pattern is a valid f32). The benchmark
        // maps a file of its own, which it neither truncates nor shares while mapped.
        let map = unsafe { MmapOptions::new().map_mut(&file)? };
        let grids = LevelGrid::for_layout(&layout);
        Ok(MmapField {
            layout,
            grids,
            blocking: Blocking::new(&layout),
            kernel: Kernel::best(),
            map,
        })
    }

    /// The field's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Floats per query output: `levels × features`.
    pub fn output_len(&self) -> usize {
        self.layout.output_len()
    }

    /// Chooses the kernel (the best one detected by default).
    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.kernel = kernel;
    }

    /// Advises the kernel how the mapping will be used (`madvise`), e.g.
    /// [`memmap2::Advice::Random`] to turn readahead off.
    pub fn advise(&self, advice: memmap2::Advice) -> Result<()> {
        self.map.advise(advice)?;
        Ok(())
    }

    /// Touches every page of the mapping once (after `madvise(WILLNEED)`), so that the whole
    /// file is in the page cache and mapped: the all-in-RAM variant of this baseline.
    pub fn load_all(&self) -> Result<f32> {
        self.map.advise(memmap2::Advice::WillNeed)?;
        let floats = self.floats();
        // One float per 4 KiB page; the sum keeps the reads from being optimised away.
        Ok(floats.iter().step_by(1024).sum())
    }

    fn floats(&self) -> &[f32] {
        bytemuck::cast_slice(&self.map[..])
    }

    fn check(&self, x: &[f32], out_len: usize) -> Result<()> {
        let dim = self.layout.dim as usize;
        if x.len() != dim {
            return Err(Error::WrongLength {
                what: "x",
                got: x.len(),
                expected: dim,
            });
        }
        if out_len != self.output_len() {
            return Err(Error::WrongLength {
                what: "out",
                got: out_len,
                expected: self.output_len(),
            });
        }
        if !x.iter().all(|v| v.is_finite()) {
            return Err(Error::NotFinite("x"));
        }
        Ok(())
    }

    /// The tile holding `x` and `x`'s coordinates inside it (as [`Field`] computes them).
    fn tile_of(&self, x: &[f32]) -> (u64, [f32; 3]) {
        self.layout.tile_of(x)
    }

    /// Level `level`'s corners around the tile-local point and the float offset of each
    /// corner's row in the mapping.
    fn level_rows(&self, tile: u64, level: usize, local: [f32; 3]) -> (Corners, [usize; 8]) {
        let grid = &self.grids[level];
        let (cell, frac) = grid.locate(local, self.layout.dim as usize);
        let mut corners = Corners::default();
        self.kernel.corners(grid, cell, frac, &mut corners);
        let base = self.blocking.table_base(tile, level);
        let per_block = self.blocking.floats_per_block();
        let offsets = std::array::from_fn(|c| {
            let (block, at) = self.blocking.locate(base, corners.index[c]);
            block as usize * per_block + at
        });
        (corners, offsets)
    }

    /// The encoding of `x` into `out` (`levels × features` floats), as [`Field::query`].
    pub fn query(&self, x: &[f32], out: &mut [f32]) -> Result<()> {
        self.check(x, out.len())?;
        let features = self.blocking.features;
        let corner_count = 1 << self.layout.dim;
        let floats = self.floats();
        let (tile, local) = self.tile_of(x);
        for level in 0..self.grids.len() {
            let (corners, offsets) = self.level_rows(tile, level, local);
            let rows: [&[f32]; 8] =
                std::array::from_fn(|c| &floats[offsets[c]..offsets[c] + features]);
            let level_out = &mut out[level * features..(level + 1) * features];
            self.kernel
                .blend(&rows[..corner_count], &corners.weight, level_out);
        }
        Ok(())
    }

    /// [`MmapField::query`] for `n` points (`xs`: `n × dim`, `out`: `n × levels × features`).
    pub fn query_batch(&self, xs: &[f32], out: &mut [f32]) -> Result<()> {
        let dim = self.layout.dim as usize;
        let width = self.output_len();
        if !xs.len().is_multiple_of(dim) || out.len() != xs.len() / dim * width {
            return Err(Error::WrongLength {
                what: "out",
                got: out.len(),
                expected: xs.len() / dim * width,
            });
        }
        for (x, o) in xs.chunks_exact(dim).zip(out.chunks_exact_mut(width)) {
            self.query(x, o)?;
        }
        Ok(())
    }

    /// One SGD step at `x`, as [`Field::update`]: each corner's row moves by
    /// `−lr × weight × grad` of its level, in the mapping (the kernel writes it back later, or
    /// at [`MmapField::flush`]).
    pub fn update(&mut self, x: &[f32], grad: &[f32], lr: f32) -> Result<()> {
        self.check(x, self.output_len())?;
        if grad.len() != self.output_len() {
            return Err(Error::WrongLength {
                what: "grad",
                got: grad.len(),
                expected: self.output_len(),
            });
        }
        if !grad.iter().all(|v| v.is_finite()) || !lr.is_finite() {
            return Err(Error::NotFinite("grad"));
        }
        let features = self.blocking.features;
        let (tile, local) = self.tile_of(x);
        for level in 0..self.grids.len() {
            let (corners, offsets) = self.level_rows(tile, level, local);
            let level_grad = &grad[level * features..(level + 1) * features];
            let kernel = self.kernel;
            let floats: &mut [f32] = bytemuck::cast_slice_mut(&mut self.map[..]);
            for c in 0..1 << self.layout.dim {
                let row = &mut floats[offsets[c]..offsets[c] + features];
                kernel.axpy(-lr * corners.weight[c], level_grad, row);
            }
        }
        Ok(())
    }

    /// Writes the mapping's dirty pages to the file and waits for them (`msync`).
    pub fn flush(&mut self) -> Result<()> {
        self.map.flush()?;
        Ok(())
    }
}
