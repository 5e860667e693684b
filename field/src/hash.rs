//! Instant-NGP's vertex indexing, the scalar reference: where a point falls in one level's grid
//! (the cell's lower vertex and the fractions along each axis), and which table entry each of
//! the cell's `2^dim` vertices maps to.
//!
//! A level whose whole grid of `(resolution + 1)^dim` vertices fits in the table is indexed
//! densely (`x + y·(r+1) + z·(r+1)²`, one entry per vertex, no collisions). A finer level uses
//! the spatial hash `(x·1 ⊕ y·2654435761 ⊕ z·805459861) mod table_size`, in wrapping 32-bit
//! arithmetic. The kernel module vectorises the same computation.

/// The spatial hash's per-axis primes (Teschner et al., as used by Instant-NGP).
pub const PRIMES: [u32; 3] = [1, 2_654_435_761, 805_459_861];

/// One level's grid as the indexing needs it.
#[derive(Clone, Copy, Debug)]
pub struct LevelGrid {
    /// Cells per axis.
    pub resolution: u32,
    /// Whether the level is indexed densely (its grid fits in the table).
    pub dense: bool,
    /// Per-axis multipliers: the dense strides `1, r+1, (r+1)²`, or the hash primes.
    pub multipliers: [u32; 3],
    /// `table_size − 1` (table sizes are powers of two).
    pub mask: u32,
}

impl LevelGrid {
    /// The grid of a level with `resolution` cells per axis, in `dim` dimensions, over a table
    /// of `2^log2_table` entries.
    pub fn new(resolution: u32, dim: u8, log2_table: u8) -> LevelGrid {
        let table = 1u64 << log2_table;
        let side = resolution as u64 + 1;
        let vertices = side.saturating_pow(dim as u32);
        let dense = vertices <= table;
        let multipliers = if dense {
            let s = side as u32;
            [1, s, if dim == 3 { s * s } else { 0 }]
        } else {
            PRIMES
        };
        LevelGrid {
            resolution,
            dense,
            multipliers,
            mask: (table - 1) as u32,
        }
    }

    /// The table entry of vertex `v` (for 2-D inputs `v[2]` is 0).
    #[inline]
    pub fn index(&self, v: [u32; 3]) -> u32 {
        let m = self.multipliers;
        if self.dense {
            v[0].wrapping_mul(m[0])
                .wrapping_add(v[1].wrapping_mul(m[1]))
                .wrapping_add(v[2].wrapping_mul(m[2]))
        } else {
            (v[0].wrapping_mul(m[0]) ^ v[1].wrapping_mul(m[1]) ^ v[2].wrapping_mul(m[2]))
                & self.mask
        }
    }

    /// Where the point `x` (coordinates in `[0, 1]`, clamped; unused axes 0) falls: the cell's
    /// lower vertex and the fraction along each axis, in `[0, 1]`.
    #[inline]
    pub fn locate(&self, x: [f32; 3], dim: usize) -> ([u32; 3], [f32; 3]) {
        let r = self.resolution as f32;
        let mut cell = [0u32; 3];
        let mut frac = [0f32; 3];
        for d in 0..dim {
            let p = x[d].clamp(0.0, 1.0) * r;
            // The top face (x = 1) belongs to the last cell.
            let c = (p.floor() as u32).min(self.resolution - 1);
            cell[d] = c;
            frac[d] = p - c as f32;
        }
        (cell, frac)
    }
}

/// A cell's vertices at one level: their table entries and interpolation weights, in corner
/// order (bit `d` of the corner number selects the upper vertex along axis `d`). In 2-D only
/// the first 4 are used.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Corners {
    /// Table entry of each corner.
    pub index: [u32; 8],
    /// Weight of each corner (bilinear / trilinear; they sum to 1).
    pub weight: [f32; 8],
}

/// The scalar reference: fills `out` for the cell at `cell` with fractions `frac`.
pub fn corners_scalar(grid: &LevelGrid, cell: [u32; 3], frac: [f32; 3], out: &mut Corners) {
    for c in 0..8 {
        let mut v = [0u32; 3];
        let mut w = 1.0f32;
        for d in 0..3 {
            let upper = (c >> d) & 1 == 1;
            v[d] = cell[d] + upper as u32;
            w *= if upper { frac[d] } else { 1.0 - frac[d] };
        }
        out.index[c] = grid.index(v);
        out.weight[c] = w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_levels_are_dense_and_fine_levels_hash() {
        let coarse = LevelGrid::new(16, 3, 14); // 17³ = 4913 ≤ 16384
        assert!(coarse.dense);
        assert_eq!(coarse.index([1, 2, 3]), 1 + 2 * 17 + 3 * 289);
        let fine = LevelGrid::new(64, 3, 14); // 65³ > 16384
        assert!(!fine.dense);
        let expect =
            (5u32 ^ 6u32.wrapping_mul(2_654_435_761) ^ 7u32.wrapping_mul(805_459_861)) & 16383;
        assert_eq!(fine.index([5, 6, 7]), expect);
        let flat = LevelGrid::new(127, 2, 14); // 128² = 16384: exactly fits
        assert!(flat.dense);
        assert_eq!(flat.index([127, 127, 0]), 16383);
    }

    #[test]
    fn weights_are_trilinear_and_sum_to_one() {
        let grid = LevelGrid::new(10, 3, 14);
        let (cell, frac) = grid.locate([0.25, 0.5, 1.0], 3);
        assert_eq!(cell, [2, 5, 9], "x = 1 falls in the last cell");
        assert!((frac[0] - 0.5).abs() < 1e-6 && frac[1].abs() < 1e-6);
        assert!((frac[2] - 1.0).abs() < 1e-6);
        let mut c = Corners::default();
        corners_scalar(&grid, cell, frac, &mut c);
        let sum: f32 = c.weight.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        // Corner 0b100 (upper z only): 0.5 × 1 × 1.
        assert!((c.weight[4] - 0.5).abs() < 1e-6);
        assert_eq!(c.index[4], grid.index([2, 5, 10]));
    }
}
