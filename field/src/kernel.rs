//! The arithmetic of a query and an update, twice: a scalar version, and an AVX2 + FMA version
//! chosen at run time when the processor has both.
//!
//! Three operations make up the work per level:
//! - `corners`: a cell's 8 vertex indices (dense or hashed) and trilinear weights, one vertex
//!   per 32-bit lane (2-D uses the first 4 lanes);
//! - `blend`: `out = Σ weight_c × row_c` over the cell's feature rows (≤ 8 features, one
//!   masked 256-bit register);
//! - `axpy`: `row += alpha × grad`, the SGD step on one feature row.
//!
//! The two versions agree exactly on indices and weights (same operations in the same order)
//! and within float rounding on `blend` and `axpy` (the vector version fuses multiply and
//! add); a test checks both.
//!
//! [`Grids`] with [`Kernel::encode`] and [`Kernel::encode_batch`] run the same arithmetic on
//! tables held in one slice in memory, without blocks, tiers or a file: the kernel alone, as
//! the criterion benchmark `field/benches/kernel.rs` times it. The AVX2 version of
//! `encode_batch` works on 8 points at a time, one point per lane: it locates them and computes
//! each corner's index and weight for all 8 at once, then blends each point's rows.

use crate::error::Result;
use crate::hash::{corners_scalar, Corners, LevelGrid};
use crate::layout::Layout;

/// Which instruction set the field's arithmetic uses. Only constructible through detection,
/// so a vector kernel is never run on a processor without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel(Isa);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    /// The scalar kernel (always available).
    pub fn scalar() -> Kernel {
        Kernel(Isa::Scalar)
    }

    /// The AVX2 + FMA kernel, if this processor has both.
    pub fn avx2_fma() -> Option<Kernel> {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Some(Kernel(Isa::Avx2Fma));
        }
        None
    }

    /// The fastest kernel this processor runs.
    pub fn best() -> Kernel {
        Kernel::avx2_fma().unwrap_or_else(Kernel::scalar)
    }

    /// A short name: `"scalar"` or `"avx2+fma"`.
    pub fn name(&self) -> &'static str {
        match self.0 {
            Isa::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => "avx2+fma",
        }
    }

    /// A cell's vertex indices and weights at one level.
    #[inline]
    pub(crate) fn corners(
        &self,
        grid: &LevelGrid,
        cell: [u32; 3],
        frac: [f32; 3],
        out: &mut Corners,
    ) {
        match self.0 {
            Isa::Scalar => corners_scalar(grid, cell, frac, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2Fma` exists only after `avx2_fma` detected both features.
            Isa::Avx2Fma => unsafe { avx2::corners(grid, cell, frac, out) },
        }
    }

    /// 8 points' vertex indices and weights at one level, from their tile-local coordinates
    /// (`dim` axes, clamped to `[0, 1]`): the same integers and floats as `LevelGrid::locate`
    /// then [`Kernel::corners`] for each point (all 8 corners, as `corners_scalar` gives
    /// them), with one point per lane in the AVX2 kernel (`field::batch` uses it for
    /// `query_batch`).
    #[inline]
    pub(crate) fn corners8(
        &self,
        grid: &LevelGrid,
        dim: usize,
        local: &[[f32; 3]; 8],
        out: &mut [Corners; 8],
    ) {
        match self.0 {
            Isa::Scalar => {
                for (x, o) in local.iter().zip(out.iter_mut()) {
                    let (cell, frac) = grid.locate(*x, dim);
                    corners_scalar(grid, cell, frac, o);
                }
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2Fma` exists only after `avx2_fma` detected both features.
            Isa::Avx2Fma => unsafe { avx2::corners8(grid, dim, local, out) },
        }
    }

    /// `out[f] = Σ_c weights[c] × rows[c][f]` for `f < out.len()`; every row has at least
    /// `out.len()` floats, and `out.len() ≤ 8`.
    #[inline]
    pub(crate) fn blend(&self, rows: &[&[f32]], weights: &[f32], out: &mut [f32]) {
        assert!(out.len() <= 8 && rows.len() <= weights.len());
        assert!(rows.iter().all(|r| r.len() >= out.len()));
        match self.0 {
            Isa::Scalar => blend_scalar(rows, weights, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: features detected (as above); lengths checked just before.
            Isa::Avx2Fma => unsafe { avx2::blend(rows, weights, out) },
        }
    }

    /// `row[f] += alpha × grad[f]` for `f < row.len()`; `grad.len() == row.len() ≤ 8`.
    #[inline]
    pub(crate) fn axpy(&self, alpha: f32, grad: &[f32], row: &mut [f32]) {
        assert!(row.len() <= 8 && grad.len() == row.len());
        match self.0 {
            Isa::Scalar => axpy_scalar(alpha, grad, row),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: features detected (as above); lengths checked just before.
            Isa::Avx2Fma => unsafe { avx2::axpy(alpha, grad, row) },
        }
    }
}

/// A layout's level grids (one tile), for encoding points against tables in memory.
#[derive(Clone, Debug)]
pub struct Grids {
    grids: Vec<LevelGrid>,
    dim: usize,
    features: usize,
    entries: usize,
}

impl Grids {
    /// The grids of `layout` (validated first), hashed as its [`Layout::hashing`] says with
    /// its blocking; `tiles_per_axis` is ignored (the unit cube is one tile).
    pub fn new(layout: &Layout) -> Result<Grids> {
        layout.validate()?;
        Ok(Grids {
            grids: LevelGrid::for_layout(layout),
            dim: layout.dim as usize,
            features: layout.features as usize,
            entries: layout.table_entries() as usize,
        })
    }

    /// Floats the tables take: `levels × table entries × features`, level by level, entry by
    /// entry (what [`Kernel::encode`] reads).
    pub fn table_floats(&self) -> usize {
        self.grids.len() * self.entries * self.features
    }

    /// Floats of one point's encoding: `levels × features`.
    pub fn output_len(&self) -> usize {
        self.grids.len() * self.features
    }

    /// Input dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The floats of `entry` of `level` in `tables`.
    #[inline]
    fn row<'t>(&self, tables: &'t [f32], level: usize, entry: u32) -> &'t [f32] {
        let at = (level * self.entries + entry as usize) * self.features;
        &tables[at..at + self.features]
    }
}

impl Kernel {
    /// Encodes the point `x` (`dim` finite coordinates in `[0, 1]`, clamped) against `tables`
    /// into `out` (`levels × features` floats), the way a field query does. A non-finite
    /// coordinate gives unspecified values (never an out-of-bounds read); `Field` refuses them
    /// before they get here.
    ///
    /// # Panics
    /// If `tables`, `x` or `out` has the wrong length.
    pub fn encode(&self, grids: &Grids, tables: &[f32], x: &[f32], out: &mut [f32]) {
        assert_eq!(tables.len(), grids.table_floats(), "tables");
        assert_eq!(x.len(), grids.dim, "x");
        assert_eq!(out.len(), grids.output_len(), "out");
        self.encode_one(grids, tables, x, out);
    }

    fn encode_one(&self, grids: &Grids, tables: &[f32], x: &[f32], out: &mut [f32]) {
        let mut local = [0f32; 3];
        local[..grids.dim].copy_from_slice(x);
        let features = grids.features;
        let corner_count = 1 << grids.dim;
        let mut corners = Corners::default();
        for (level, grid) in grids.grids.iter().enumerate() {
            let (cell, frac) = grid.locate(local, grids.dim);
            self.corners(grid, cell, frac, &mut corners);
            let rows: [&[f32]; 8] =
                std::array::from_fn(|c| grids.row(tables, level, corners.index[c % corner_count]));
            self.blend(
                &rows[..corner_count],
                &corners.weight,
                &mut out[level * features..(level + 1) * features],
            );
        }
    }

    /// [`Kernel::encode`] for `xs.len() / dim` points; `out` receives their encodings one
    /// after another. The AVX2 kernel handles 8 points at a time (the rest one by one).
    ///
    /// # Panics
    /// If `tables` has the wrong length, `xs` is not a whole number of points or `out` does
    /// not fit them.
    pub fn encode_batch(&self, grids: &Grids, tables: &[f32], xs: &[f32], out: &mut [f32]) {
        let (dim, width) = (grids.dim, grids.output_len());
        assert_eq!(tables.len(), grids.table_floats(), "tables");
        assert!(xs.len().is_multiple_of(dim), "xs");
        assert_eq!(out.len(), xs.len() / dim * width, "out");
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if self.0 == Isa::Avx2Fma {
            let whole = xs.len() / dim / 8 * 8;
            for (x8, o8) in xs[..whole * dim]
                .chunks_exact(8 * dim)
                .zip(out.chunks_exact_mut(8 * width))
            {
                // SAFETY: `Isa::Avx2Fma` exists only after detection; the lengths are 8
                // points' and 8 outputs', the tables' was checked above.
                unsafe { avx2::encode8(grids, tables, x8, o8) };
            }
            done = whole;
        }
        for (x, o) in xs[done * dim..]
            .chunks_exact(dim)
            .zip(out[done * width..].chunks_exact_mut(width))
        {
            self.encode_one(grids, tables, x, o);
        }
    }
}

fn blend_scalar(rows: &[&[f32]], weights: &[f32], out: &mut [f32]) {
    for (f, o) in out.iter_mut().enumerate() {
        let mut acc = 0.0f32;
        for (row, w) in rows.iter().zip(weights) {
            acc += w * row[f];
        }
        *o = acc;
    }
}

fn axpy_scalar(alpha: f32, grad: &[f32], row: &mut [f32]) {
    for (r, g) in row.iter_mut().zip(grad) {
        *r += alpha * g;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! The AVX2 + FMA versions. Each is an `unsafe fn` only because it must run on a processor
    //! with those features.
    use super::Grids;
    use crate::hash::{Corners, Indexing, LevelGrid};
    use std::arch::x86_64::*;

    /// A lane mask selecting the first `n` (≤ 8) of 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn first_lanes(n: usize) -> __m256i {
        let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), lane)
    }

    /// The 8 corners at once: lane `c` is corner `c`.
    ///
    /// # Safety
    /// - The processor supports AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn corners(grid: &LevelGrid, cell: [u32; 3], frac: [f32; 3], out: &mut Corners) {
        let corner = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let one = _mm256_set1_epi32(1);
        let upper = [
            _mm256_and_si256(corner, one),
            _mm256_and_si256(_mm256_srli_epi32::<1>(corner), one),
            _mm256_and_si256(_mm256_srli_epi32::<2>(corner), one),
        ];
        let mut index = _mm256_setzero_si256();
        let mut place = _mm256_setzero_si256();
        let mut weight = _mm256_set1_ps(1.0);
        for d in 0..3 {
            let v = _mm256_add_epi32(_mm256_set1_epi32(cell[d] as i32), upper[d]);
            let m = _mm256_set1_epi32(grid.multipliers[d] as i32);
            index = match grid.indexing {
                Indexing::Dense => _mm256_add_epi32(index, _mm256_mullo_epi32(v, m)),
                Indexing::Spatial => _mm256_xor_si256(index, _mm256_mullo_epi32(v, m)),
                Indexing::Local | Indexing::Bricked => {
                    let bits = _mm_cvtsi32_si128(grid.brick_bits[d] as i32);
                    let brick = _mm256_srl_epi32(v, bits);
                    let low = _mm256_set1_epi32(((1u32 << grid.brick_bits[d]) - 1) as i32);
                    let shift = _mm_cvtsi32_si128(grid.place_shift[d] as i32);
                    place =
                        _mm256_or_si256(place, _mm256_sll_epi32(_mm256_and_si256(v, low), shift));
                    let term = _mm256_mullo_epi32(brick, m);
                    if grid.indexing == Indexing::Local {
                        _mm256_xor_si256(index, term)
                    } else {
                        _mm256_add_epi32(index, term)
                    }
                }
            };
            let is_upper = _mm256_castsi256_ps(_mm256_cmpeq_epi32(upper[d], one));
            let f = _mm256_set1_ps(frac[d]);
            let w = _mm256_blendv_ps(_mm256_set1_ps(1.0 - frac[d]), f, is_upper);
            weight = _mm256_mul_ps(weight, w);
        }
        match grid.indexing {
            Indexing::Dense => {}
            Indexing::Spatial => {
                index = _mm256_and_si256(index, _mm256_set1_epi32(grid.mask as i32));
            }
            Indexing::Local | Indexing::Bricked => {
                // A bricked grid's mask is all ones.
                let block = _mm256_and_si256(index, _mm256_set1_epi32(grid.mask as i32));
                let bits = _mm_cvtsi32_si128(grid.block_bits as i32);
                index = _mm256_or_si256(_mm256_sll_epi32(block, bits), place);
            }
        }
        // SAFETY: `out.index` is 8 u32 = 32 bytes; unaligned store.
        unsafe { _mm256_storeu_si256(out.index.as_mut_ptr().cast(), index) };
        // SAFETY: `out.weight` is 8 f32 = 32 bytes; unaligned store.
        unsafe { _mm256_storeu_ps(out.weight.as_mut_ptr(), weight) };
    }

    /// 8 points' encodings: `xs` holds 8 × `dim` coordinates, `out` 8 × `levels × features`
    /// floats. Lane `j` is point `j` while locating and computing corners (same operations
    /// as `LevelGrid::locate` and `corners`, so the same indices and weights); each point's
    /// rows are then blended with fused multiply-adds.
    ///
    /// # Safety
    /// - The processor supports AVX2 and FMA.
    /// - `xs.len() == 8 × dim`, `out.len() == 8 × output_len`, `tables.len() ==
    ///   grids.table_floats()`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn encode8(grids: &Grids, tables: &[f32], xs: &[f32], out: &mut [f32]) {
        let dim = grids.dim();
        let features = grids.features;
        let width = grids.output_len();
        let corner_count = 1usize << dim;
        let mask = first_lanes(features);
        // Coordinates by axis, one point per lane, clamped to [0, 1] (axes past `dim`: 0).
        let mut axis = [_mm256_setzero_ps(); 3];
        for (d, a) in axis.iter_mut().enumerate().take(dim) {
            let lanes: [f32; 8] = std::array::from_fn(|j| xs[j * dim + d]);
            // SAFETY: `lanes` is 8 floats; unaligned load.
            let v = unsafe { _mm256_loadu_ps(lanes.as_ptr()) };
            *a = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(1.0));
        }
        // Every index is below the table size already (dense indices by construction, hashed
        // ones masked); masking with it again costs one AND and makes the row reads below
        // in bounds whatever the grid.
        let entries_mask = (grids.entries - 1) as u32;
        let mut index = [[0u32; 8]; 8];
        let mut weight = [[0f32; 8]; 8];
        for (level, grid) in grids.grids.iter().enumerate() {
            // SAFETY: the caller's processor supports AVX2 and FMA.
            unsafe { level_corners8(grid, dim, &axis, corner_count, &mut index, &mut weight) };
            // SAFETY: `level × entries × features` is inside `tables` (its length is checked
            // by the caller to be `levels × entries × features`).
            let table = unsafe { tables.as_ptr().add(level * grids.entries * features) };
            for j in 0..8 {
                let mut acc = _mm256_setzero_ps();
                for c in 0..corner_count {
                    let entry = (index[c][j] & entries_mask) as usize;
                    // SAFETY: `entry < entries` (masked), so the row's `features` floats lie
                    // inside this level's table; lanes past `features` are masked off and not
                    // read.
                    let r = unsafe { _mm256_maskload_ps(table.add(entry * features), mask) };
                    acc = _mm256_fmadd_ps(_mm256_set1_ps(weight[c][j]), r, acc);
                }
                let at = j * width + level * features;
                let dst = &mut out[at..at + features];
                // SAFETY: only the first `features` lanes are written, all inside `dst`.
                unsafe { _mm256_maskstore_ps(dst.as_mut_ptr(), mask, acc) };
            }
        }
    }

    /// One level's corners for 8 points (lane `j` is point `j`, `axis` its clamped
    /// coordinates): `index[c][j]` and `weight[c][j]` for corners `c < corners`, the same
    /// operations as `LevelGrid::locate` and `corners_scalar` (so the same integers and floats).
    ///
    /// # Safety
    /// - The processor supports AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn level_corners8(
        grid: &LevelGrid,
        dim: usize,
        axis: &[__m256; 3],
        corners: usize,
        index: &mut [[u32; 8]; 8],
        weight: &mut [[f32; 8]; 8],
    ) {
        let r = _mm256_set1_ps(grid.resolution as f32);
        let last = _mm256_set1_epi32(grid.resolution as i32 - 1);
        // Per axis, the lower ([0]) and upper ([1]) vertex's share of the index (its term,
        // or its brick's hash or number term), of the place in the brick, and of the weight.
        let mut term = [[_mm256_setzero_si256(); 2]; 3];
        let mut place = [[_mm256_setzero_si256(); 2]; 3];
        let mut share = [[_mm256_set1_ps(1.0); 2]; 3];
        for d in 0..3 {
            let (cell, frac) = if d < dim {
                let p = _mm256_mul_ps(axis[d], r);
                // p ≥ 0, so truncation is the floor; the top face belongs to the last cell.
                let c = _mm256_min_epi32(_mm256_cvttps_epi32(_mm256_floor_ps(p)), last);
                (c, _mm256_sub_ps(p, _mm256_cvtepi32_ps(c)))
            } else {
                (_mm256_setzero_si256(), _mm256_setzero_ps())
            };
            let m = _mm256_set1_epi32(grid.multipliers[d] as i32);
            let bits = _mm_cvtsi32_si128(grid.brick_bits[d] as i32);
            let low = _mm256_set1_epi32(((1u32 << grid.brick_bits[d]) - 1) as i32);
            let shift = _mm_cvtsi32_si128(grid.place_shift[d] as i32);
            for upper in 0..2 {
                let v = _mm256_add_epi32(cell, _mm256_set1_epi32(upper));
                term[d][upper as usize] =
                    if matches!(grid.indexing, Indexing::Local | Indexing::Bricked) {
                        place[d][upper as usize] =
                            _mm256_sll_epi32(_mm256_and_si256(v, low), shift);
                        _mm256_mullo_epi32(_mm256_srl_epi32(v, bits), m)
                    } else {
                        _mm256_mullo_epi32(v, m)
                    };
            }
            share[d] = [_mm256_sub_ps(_mm256_set1_ps(1.0), frac), frac];
        }
        for c in 0..corners {
            let [u0, u1, u2] = [c & 1, (c >> 1) & 1, (c >> 2) & 1];
            let (t0, t1, t2) = (term[0][u0], term[1][u1], term[2][u2]);
            // The scalar kernel's order: ((1 × w0) × w1) × w2.
            let w = _mm256_mul_ps(_mm256_mul_ps(share[0][u0], share[1][u1]), share[2][u2]);
            let idx = match grid.indexing {
                Indexing::Dense => _mm256_add_epi32(_mm256_add_epi32(t0, t1), t2),
                Indexing::Spatial => _mm256_and_si256(
                    _mm256_xor_si256(_mm256_xor_si256(t0, t1), t2),
                    _mm256_set1_epi32(grid.mask as i32),
                ),
                Indexing::Local | Indexing::Bricked => {
                    // The brick's hash, or its row-major number (mask all ones).
                    let brick = if grid.indexing == Indexing::Local {
                        _mm256_xor_si256(_mm256_xor_si256(t0, t1), t2)
                    } else {
                        _mm256_add_epi32(_mm256_add_epi32(t0, t1), t2)
                    };
                    let block = _mm256_and_si256(brick, _mm256_set1_epi32(grid.mask as i32));
                    let bits = _mm_cvtsi32_si128(grid.block_bits as i32);
                    let p =
                        _mm256_or_si256(_mm256_or_si256(place[0][u0], place[1][u1]), place[2][u2]);
                    _mm256_or_si256(_mm256_sll_epi32(block, bits), p)
                }
            };
            // SAFETY: `index[c]` and `weight[c]` are 8 values = 32 bytes; unaligned stores.
            unsafe {
                _mm256_storeu_si256(index[c].as_mut_ptr().cast(), idx);
                _mm256_storeu_ps(weight[c].as_mut_ptr(), w);
            }
        }
    }

    /// 8 points' corners at one level ([`Kernel::corners8`](super::Kernel::corners8)): all 8
    /// corners, as `corners_scalar` gives them, point `j`'s in `out[j]`.
    ///
    /// # Safety
    /// - The processor supports AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn corners8(
        grid: &LevelGrid,
        dim: usize,
        local: &[[f32; 3]; 8],
        out: &mut [Corners; 8],
    ) {
        let mut axis = [_mm256_setzero_ps(); 3];
        for (d, a) in axis.iter_mut().enumerate().take(dim) {
            let lanes: [f32; 8] = std::array::from_fn(|j| local[j][d]);
            // SAFETY: `lanes` is 8 floats; unaligned load.
            let v = unsafe { _mm256_loadu_ps(lanes.as_ptr()) };
            *a = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(1.0));
        }
        let mut index = [[0u32; 8]; 8];
        let mut weight = [[0f32; 8]; 8];
        // SAFETY: the caller's processor supports AVX2 and FMA.
        unsafe { level_corners8(grid, dim, &axis, 8, &mut index, &mut weight) };
        for (j, o) in out.iter_mut().enumerate() {
            for c in 0..8 {
                o.index[c] = index[c][j];
                o.weight[c] = weight[c][j];
            }
        }
    }

    /// `out = Σ weights[c] × rows[c]`, fused multiply-adds over masked rows.
    ///
    /// # Safety
    /// - The processor supports AVX2 and FMA.
    /// - `out.len() ≤ 8`, every row has at least `out.len()` floats, `weights.len() ≥ rows.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn blend(rows: &[&[f32]], weights: &[f32], out: &mut [f32]) {
        let mask = first_lanes(out.len());
        let mut acc = _mm256_setzero_ps();
        for (row, &w) in rows.iter().zip(weights) {
            // SAFETY: lanes past `out.len()` are masked off and not read; the rest lie in `row`.
            let r = unsafe { _mm256_maskload_ps(row.as_ptr(), mask) };
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w), r, acc);
        }
        // SAFETY: only the first `out.len()` lanes are written, all inside `out`.
        unsafe { _mm256_maskstore_ps(out.as_mut_ptr(), mask, acc) };
    }

    /// `row += alpha × grad`, one fused multiply-add.
    ///
    /// # Safety
    /// - The processor supports AVX2 and FMA.
    /// - `grad.len() == row.len() ≤ 8`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy(alpha: f32, grad: &[f32], row: &mut [f32]) {
        let mask = first_lanes(row.len());
        // SAFETY: both slices have `row.len()` floats; masked lanes are not touched.
        unsafe {
            let g = _mm256_maskload_ps(grad.as_ptr(), mask);
            let r = _mm256_maskload_ps(row.as_ptr(), mask);
            let sum = _mm256_fmadd_ps(_mm256_set1_ps(alpha), g, r);
            _mm256_maskstore_ps(row.as_mut_ptr(), mask, sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Indexing;
    use crate::layout::{Hashing, HASHINGS};

    fn random_cell(rng: &mut fastrand::Rng, grid: &LevelGrid, dim: usize) -> ([u32; 3], [f32; 3]) {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        grid.locate(x, dim)
    }

    #[test]
    fn vector_kernel_matches_scalar() {
        let Some(vector) = Kernel::avx2_fma() else {
            eprintln!("no AVX2+FMA on this processor: only the scalar kernel exists here");
            return;
        };
        let scalar = Kernel::scalar();
        let mut rng = fastrand::Rng::with_seed(13);
        let (mut local_levels, mut bricked_levels) = (0, 0);
        let levels = [
            (16, 3),
            (39, 3),
            (200, 3),
            (100, 2),
            (4000, 2),
            (1 << 20, 3),
        ];
        for (resolution, dim) in levels {
            for hashing in HASHINGS {
                // Blocks of 2^10 entries (bricks 16 × 8 × 8, 32 × 32), and of 2^7 (8 × 4 × 4);
                // (16, 3), (39, 3) and (100, 2) fit their table (dense; (39, 3) in bricks of
                // 8 × 8 × 8 under the bricked hashing).
                let block_bits = if resolution == 200 { 7 } else { 10 };
                let grid = LevelGrid::with_hashing(resolution, dim, 16, hashing, block_bits);
                local_levels += usize::from(grid.indexing == Indexing::Local);
                bricked_levels += usize::from(grid.indexing == Indexing::Bricked);
                for _ in 0..500 {
                    let (cell, frac) = random_cell(&mut rng, &grid, dim as usize);
                    let (mut a, mut b) = (Corners::default(), Corners::default());
                    scalar.corners(&grid, cell, frac, &mut a);
                    vector.corners(&grid, cell, frac, &mut b);
                    assert_eq!(
                        a, b,
                        "corners of {cell:?} {frac:?} at resolution {resolution}, {grid:?}"
                    );
                }
            }
        }
        assert_eq!(
            (local_levels, bricked_levels),
            (6, 3),
            "the hashed levels of both local hashings and the bricked dense levels are covered"
        );
        for features in 1..=8 {
            for _ in 0..200 {
                let table: Vec<Vec<f32>> = (0..8)
                    .map(|_| (0..features).map(|_| rng.f32() * 2.0 - 1.0).collect())
                    .collect();
                let rows: Vec<&[f32]> = table.iter().map(|r| r.as_slice()).collect();
                let weights: Vec<f32> = (0..8).map(|_| rng.f32()).collect();
                let (mut a, mut b) = (vec![0f32; features], vec![0f32; features]);
                scalar.blend(&rows, &weights, &mut a);
                vector.blend(&rows, &weights, &mut b);
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() <= 1e-6 * (1.0 + x.abs()),
                        "blend {a:?} vs {b:?}"
                    );
                }
                let (mut ra, mut rb) = (table[0].clone(), table[0].clone());
                scalar.axpy(-0.3, &table[1], &mut ra);
                vector.axpy(-0.3, &table[1], &mut rb);
                for (x, y) in ra.iter().zip(&rb) {
                    assert!(
                        (x - y).abs() <= 1e-6 * (1.0 + x.abs()),
                        "axpy {ra:?} vs {rb:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn batches_of_eight_points_match_single_scalar_encodings() {
        let Some(vector) = Kernel::avx2_fma() else {
            eprintln!("no AVX2+FMA on this processor: only the scalar kernel exists here");
            return;
        };
        let scalar = Kernel::scalar();
        let mut rng = fastrand::Rng::with_seed(17);
        for (dim, features, hashing) in [
            (3, 2, Hashing::Spatial),
            (3, 4, Hashing::Local),
            (3, 8, Hashing::Local),
            (2, 3, Hashing::Local),
            (2, 8, Hashing::Spatial),
            (3, 4, Hashing::Bricked),
            (3, 2, Hashing::Bricked),
            (2, 3, Hashing::Bricked),
        ] {
            let layout = Layout {
                dim,
                features,
                levels: 6,
                log2_table: 14,
                base_resolution: 8,
                finest_resolution: 4096,
                log2_block_bytes: 12,
                hashing,
                ..Layout::default()
            };
            let grids = Grids::new(&layout).unwrap();
            let tables: Vec<f32> = (0..grids.table_floats())
                .map(|_| rng.f32() * 2.0 - 1.0)
                .collect();
            // 21 points: two batches of 8, then 5 one by one; the faces and corners included.
            let mut xs: Vec<f32> = (0..21 * dim as usize).map(|_| rng.f32()).collect();
            xs[..dim as usize].fill(1.0);
            xs[dim as usize..2 * dim as usize].fill(0.0);
            xs[2 * dim as usize] = 1.5; // clamped
            let width = grids.output_len();
            let mut batch = vec![0f32; 21 * width];
            vector.encode_batch(&grids, &tables, &xs, &mut batch);
            for (p, x) in xs.chunks_exact(dim as usize).enumerate() {
                let mut one = vec![0f32; width];
                scalar.encode(&grids, &tables, x, &mut one);
                for (a, b) in one.iter().zip(&batch[p * width..(p + 1) * width]) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                        "point {p} {x:?}, {hashing:?} dim {dim} features {features}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn corners_of_eight_points_equal_each_points_scalar_corners() {
        let mut rng = fastrand::Rng::with_seed(23);
        let kernels = [Some(Kernel::scalar()), Kernel::avx2_fma()];
        for (dim, resolution, hashing) in [
            (3, 16, Hashing::Spatial), // dense (17³ fits 2^14)
            (3, 1000, Hashing::Spatial),
            (3, 1000, Hashing::Local),
            (2, 100, Hashing::Spatial), // dense
            (2, 4000, Hashing::Local),
            (3, 16, Hashing::Bricked), // dense, bricks of 8 × 8 × 8
            (3, 24, Hashing::Bricked), // dense, rows: no brick of 2 × 2 × 2 fits
            (3, 1000, Hashing::Bricked),
            (2, 100, Hashing::Bricked), // dense, bricks of 32 × 16
        ] {
            let grid = LevelGrid::with_hashing(resolution, dim, 14, hashing, 9);
            for round in 0..50 {
                let mut local: [[f32; 3]; 8] =
                    std::array::from_fn(|_| [rng.f32(), rng.f32(), rng.f32()]);
                if round == 0 {
                    local[0] = [1.0; 3];
                    local[1] = [0.0; 3];
                    local[2] = [1.5, -0.25, 0.5]; // clamped
                }
                for kernel in kernels.iter().flatten() {
                    let mut eight = [Corners::default(); 8];
                    kernel.corners8(&grid, dim as usize, &local, &mut eight);
                    for (x, got) in local.iter().zip(&eight) {
                        let (cell, frac) = grid.locate(*x, dim as usize);
                        let mut want = Corners::default();
                        corners_scalar(&grid, cell, frac, &mut want);
                        assert_eq!(got.index, want.index, "{} {x:?}", kernel.name());
                        let bits = |w: &[f32; 8]| w.map(f32::to_bits);
                        assert_eq!(bits(&got.weight), bits(&want.weight), "{x:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn blend_of_one_hot_weights_picks_the_row() {
        for kernel in [Some(Kernel::scalar()), Kernel::avx2_fma()]
            .into_iter()
            .flatten()
        {
            let rows: [&[f32]; 3] = [&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], &[7.0, 8.0, 9.0]];
            let mut out = [0f32; 3];
            kernel.blend(&rows, &[0.0, 1.0, 0.0], &mut out);
            assert_eq!(out, [4.0, 5.0, 6.0], "{}", kernel.name());
            let mut row = [1.0f32, 1.0];
            kernel.axpy(2.0, &[0.5, -1.0], &mut row);
            assert_eq!(row, [2.0, -1.0], "{}", kernel.name());
        }
    }
}
