//! Instant-NGP's vertex indexing, the scalar reference: where a point falls in one level's grid
//! (the cell's lower vertex and the fractions along each axis), and which table entry each of
//! the cell's `2^dim` vertices maps to.
//!
//! A level whose whole grid of `(resolution + 1)^dim` vertices fits in the table is indexed
//! densely (`x + y·(r+1) + z·(r+1)²`, one entry per vertex, no collisions). A finer level is
//! hashed, as the layout's [`Hashing`] says:
//! - **spatial** (Instant-NGP): `(x·1 ⊕ y·2654435761 ⊕ z·805459861) mod table_size`, in
//!   wrapping 32-bit arithmetic;
//! - **local**: the vertices are grouped in bricks of `2^b0 × 2^b1 × 2^b2 = entries_per_block`
//!   vertices (the block's `log2` split as evenly as possible over the axes, the larger shares
//!   first: 16 × 8 × 8 for 1,024 entries in 3-D, 32 × 32 in 2-D). A vertex's brick is
//!   `v >> b` per axis and its place in the brick `v & (2^b − 1)` per axis; the brick is hashed
//!   with the same primes to one of the table's blocks, and the vertex is the entry
//!   `block × entries_per_block + place`, with the place numbered x first
//!   (`px + py·2^b0 + pz·2^(b0+b1)`). A cell's vertices share one block unless the cell crosses
//!   a brick face (with 16 × 8 × 8, 72 % of the cells lie inside one brick and a cell touches
//!   1.34 blocks on average), and two bricks that hash to the same block share all its entries
//!   (collisions between bricks, none within one).
//!
//! The kernel module vectorises the same computation, with the same integer results.

use crate::layout::{Blocking, Hashing, Layout};

/// The spatial hash's per-axis primes (Teschner et al., as used by Instant-NGP); the local
/// hashing hashes brick coordinates with the same.
pub const PRIMES: [u32; 3] = [1, 2_654_435_761, 805_459_861];

/// How one level maps a vertex to a table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexing {
    /// The whole grid fits: `x + y·(r+1) + z·(r+1)²`.
    Dense,
    /// Instant-NGP's spatial hash of the vertex.
    Spatial,
    /// The hash of the vertex's brick picks a block; its place in the brick, the entry.
    Local,
}

/// One level's grid as the indexing needs it.
#[derive(Clone, Copy, Debug)]
pub struct LevelGrid {
    /// Cells per axis.
    pub resolution: u32,
    /// How vertices map to entries.
    pub indexing: Indexing,
    /// Per-axis multipliers: the dense strides `1, r+1, (r+1)²`, or the hash primes.
    pub multipliers: [u32; 3],
    /// Spatial: `table_size − 1`. Local: `blocks_per_table − 1` (both powers of two).
    pub mask: u32,
    /// Local: log2 of the brick's side per axis (0 on unused axes).
    pub brick_bits: [u32; 3],
    /// Local: where each axis's place in the brick starts in the entry's offset within its
    /// block (`0, b0, b0 + b1`).
    pub place_shift: [u32; 3],
    /// Local: log2 of entries per block.
    pub block_bits: u32,
}

/// The brick shape of the local hashing: `log2_entries` bits split over `dim` axes as evenly
/// as possible, the larger shares on the first axes (axes past `dim` get 0).
pub fn brick_bits(log2_entries: u32, dim: u8) -> [u32; 3] {
    let dim = dim as u32;
    std::array::from_fn(|d| {
        let d = d as u32;
        if d < dim {
            log2_entries / dim + u32::from(d < log2_entries % dim)
        } else {
            0
        }
    })
}

impl LevelGrid {
    /// The grid of a level with `resolution` cells per axis, in `dim` dimensions, over a table
    /// of `2^log2_table` entries, hashed spatially if it does not fit.
    #[cfg(test)]
    pub fn new(resolution: u32, dim: u8, log2_table: u8) -> LevelGrid {
        LevelGrid::with_hashing(resolution, dim, log2_table, Hashing::Spatial, 0)
    }

    /// The grids of every level of a validated layout, as its blocking cuts the tables.
    pub fn for_layout(layout: &Layout) -> Vec<LevelGrid> {
        let blocking = Blocking::new(layout);
        layout
            .resolutions()
            .into_iter()
            .map(|r| {
                LevelGrid::with_hashing(
                    r,
                    layout.dim,
                    layout.log2_table,
                    layout.hashing,
                    blocking.log2_entries_per_block,
                )
            })
            .collect()
    }

    /// The grid of a level with `resolution` cells per axis, in `dim` dimensions, over a table
    /// of `2^log2_table` entries cut into blocks of `2^log2_entries_per_block` entries (which
    /// only the local hashing uses), hashed with `hashing` if it does not fit.
    pub fn with_hashing(
        resolution: u32,
        dim: u8,
        log2_table: u8,
        hashing: Hashing,
        log2_entries_per_block: u32,
    ) -> LevelGrid {
        let table = 1u64 << log2_table;
        let side = resolution as u64 + 1;
        let vertices = side.saturating_pow(dim as u32);
        let mut grid = LevelGrid {
            resolution,
            indexing: Indexing::Spatial,
            multipliers: PRIMES,
            mask: (table - 1) as u32,
            brick_bits: [0; 3],
            place_shift: [0; 3],
            block_bits: 0,
        };
        if vertices <= table {
            let s = side as u32;
            grid.indexing = Indexing::Dense;
            grid.multipliers = [1, s, if dim == 3 { s * s } else { 0 }];
        } else if hashing == Hashing::Local {
            let bits = brick_bits(log2_entries_per_block, dim);
            grid.indexing = Indexing::Local;
            grid.mask = ((table >> log2_entries_per_block) - 1) as u32;
            grid.brick_bits = bits;
            grid.place_shift = [0, bits[0], bits[0] + bits[1]];
            grid.block_bits = log2_entries_per_block;
        }
        grid
    }

    /// Whether the level is indexed densely (its grid fits in the table).
    #[cfg(test)]
    pub fn dense(&self) -> bool {
        self.indexing == Indexing::Dense
    }

    /// The table entry of vertex `v` (for 2-D inputs `v[2]` is 0).
    #[inline]
    pub fn index(&self, v: [u32; 3]) -> u32 {
        let m = self.multipliers;
        match self.indexing {
            Indexing::Dense => v[0]
                .wrapping_mul(m[0])
                .wrapping_add(v[1].wrapping_mul(m[1]))
                .wrapping_add(v[2].wrapping_mul(m[2])),
            Indexing::Spatial => {
                (v[0].wrapping_mul(m[0]) ^ v[1].wrapping_mul(m[1]) ^ v[2].wrapping_mul(m[2]))
                    & self.mask
            }
            Indexing::Local => {
                let mut hash = 0u32;
                let mut place = 0u32;
                for d in 0..3 {
                    let bits = self.brick_bits[d];
                    hash ^= (v[d] >> bits).wrapping_mul(m[d]);
                    place |= (v[d] & ((1 << bits) - 1)) << self.place_shift[d];
                }
                ((hash & self.mask) << self.block_bits) | place
            }
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
        assert!(coarse.dense());
        assert_eq!(coarse.index([1, 2, 3]), 1 + 2 * 17 + 3 * 289);
        let fine = LevelGrid::new(64, 3, 14); // 65³ > 16384
        assert!(!fine.dense());
        let expect =
            (5u32 ^ 6u32.wrapping_mul(2_654_435_761) ^ 7u32.wrapping_mul(805_459_861)) & 16383;
        assert_eq!(fine.index([5, 6, 7]), expect);
        let flat = LevelGrid::new(127, 2, 14); // 128² = 16384: exactly fits
        assert!(flat.dense());
        assert_eq!(flat.index([127, 127, 0]), 16383);
    }

    #[test]
    fn local_hashing_keeps_a_brick_in_one_block_and_fills_it() {
        assert_eq!(brick_bits(10, 3), [4, 3, 3]);
        assert_eq!(brick_bits(10, 2), [5, 5, 0]);
        assert_eq!(brick_bits(8, 3), [3, 3, 2]);
        // 2^16 entries in blocks of 2^10: 64 blocks.
        let grid = LevelGrid::with_hashing(1000, 3, 16, Hashing::Local, 10);
        assert_eq!(grid.indexing, Indexing::Local);
        assert_eq!((grid.mask, grid.block_bits), (63, 10));
        // Brick (2, 1, 3) holds vertices x 32..48, y 8..16, z 24..32.
        let block = |e: u32| e >> 10;
        let first = grid.index([32, 8, 24]);
        let mut places = std::collections::HashSet::new();
        for z in 24..32 {
            for y in 8..16 {
                for x in 32..48 {
                    let e = grid.index([x, y, z]);
                    assert_eq!(block(e), block(first), "one brick, one block");
                    places.insert(e & 1023);
                }
            }
        }
        assert_eq!(
            places.len(),
            1024,
            "a brick's vertices fill its block, no collision"
        );
        let expect = (2u32 ^ 2_654_435_761 ^ 3u32.wrapping_mul(805_459_861)) & 63;
        assert_eq!(block(first), expect);
        assert_eq!(grid.index([33, 9, 25]) & 1023, 1 + 16 + 128);
        // A dense level stays dense under either hashing.
        let coarse = LevelGrid::with_hashing(16, 3, 16, Hashing::Local, 10);
        assert_eq!(coarse.indexing, Indexing::Dense);
        assert_eq!(coarse.index([1, 2, 3]), 1 + 2 * 17 + 3 * 289);
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
