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

use crate::hash::{corners_scalar, Corners, LevelGrid};

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
    use crate::hash::{Corners, LevelGrid};
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
        let mut weight = _mm256_set1_ps(1.0);
        for d in 0..3 {
            let v = _mm256_add_epi32(_mm256_set1_epi32(cell[d] as i32), upper[d]);
            let term = _mm256_mullo_epi32(v, _mm256_set1_epi32(grid.multipliers[d] as i32));
            index = if grid.dense {
                _mm256_add_epi32(index, term)
            } else {
                _mm256_xor_si256(index, term)
            };
            let is_upper = _mm256_castsi256_ps(_mm256_cmpeq_epi32(upper[d], one));
            let f = _mm256_set1_ps(frac[d]);
            let w = _mm256_blendv_ps(_mm256_set1_ps(1.0 - frac[d]), f, is_upper);
            weight = _mm256_mul_ps(weight, w);
        }
        if !grid.dense {
            index = _mm256_and_si256(index, _mm256_set1_epi32(grid.mask as i32));
        }
        // SAFETY: `out.index` is 8 u32 = 32 bytes; unaligned store.
        unsafe { _mm256_storeu_si256(out.index.as_mut_ptr().cast(), index) };
        // SAFETY: `out.weight` is 8 f32 = 32 bytes; unaligned store.
        unsafe { _mm256_storeu_ps(out.weight.as_mut_ptr(), weight) };
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
        for (resolution, dim) in [(16, 3), (200, 3), (100, 2), (4000, 2), (1 << 20, 3)] {
            let grid = LevelGrid::new(resolution, dim, 16);
            for _ in 0..500 {
                let (cell, frac) = random_cell(&mut rng, &grid, dim as usize);
                let (mut a, mut b) = (Corners::default(), Corners::default());
                scalar.corners(&grid, cell, frac, &mut a);
                vector.corners(&grid, cell, frac, &mut b);
                assert_eq!(
                    a, b,
                    "corners of {cell:?} {frac:?} at resolution {resolution}"
                );
            }
        }
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
