//! Instant-NGP's vertex indexing, the scalar reference: where a point falls in one level's grid
//! (the cell's lower vertex and the fractions along each axis), and which table entry each of
//! the cell's `2^dim` vertices maps to.
//!
//! A level whose whole grid of `(resolution + 1)^dim` vertices fits in the table is indexed
//! densely, one entry per vertex, no collisions: row by row (`x + y·(r+1) + z·(r+1)²`) under
//! the spatial and local hashings, brick by brick under [`Hashing::Bricked`] (below). A finer
//! level is hashed, as the layout's [`Hashing`] says:
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
//!   (collisions between bricks, none within one). [`Hashing::Bricked`] hashes its fine
//!   levels the same way.
//!
//! **Bricked dense levels** ([`Hashing::Bricked`]): the grid of `s = r + 1` vertices per axis
//! is cut into the same bricks, `nb_d = ⌈s / 2^b_d⌉` per axis (the edge bricks padded: their
//! places past the grid are entries no vertex uses). Brick `(bx, by, bz)` is number
//! `n = bx + by·nb0 + bz·nb0·nb1` (row-major, no hash) and holds entries
//! `n·2^k .. (n+1)·2^k` (`2^k` vertices per brick), the vertex at its place in the brick as
//! above: `entry = (n << k) | place`. Each vertex has its own entry, and a brick lies in one
//! block. If the padded grid of block-sized bricks (`Π nb_d · 2^k`) does not fit the table,
//! the brick shrinks (`k − 1`, `k − 2`, … bits, split over the axes as before; a smaller
//! brick is still inside one block) until it fits, down to 2 vertices per axis (`k = dim`);
//! if even that does not fit, the level keeps the row layout (`Indexing::Dense`), which
//! always fits. (Bricks with a side of 1 would be rows with padding: no cell inside one.)
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
    /// A dense level in bricks: the brick's row-major number picks `2^block_bits` entries;
    /// the vertex's place in the brick, the entry among them.
    Bricked,
}

/// One level's grid as the indexing needs it.
#[derive(Clone, Copy, Debug)]
pub struct LevelGrid {
    /// Cells per axis.
    pub resolution: u32,
    /// How vertices map to entries.
    pub indexing: Indexing,
    /// Per-axis multipliers: the dense strides `1, r+1, (r+1)²`, the hash primes, or (bricked)
    /// the brick grid's strides `1, nb0, nb0·nb1`.
    pub multipliers: [u32; 3],
    /// Spatial: `table_size − 1`. Local: `blocks_per_table − 1` (both powers of two).
    /// Bricked: all ones (the brick number needs no mask; the kernels apply it anyway).
    pub mask: u32,
    /// Local, bricked: log2 of the brick's side per axis (0 on unused axes).
    pub brick_bits: [u32; 3],
    /// Local, bricked: where each axis's place in the brick starts in the entry's offset
    /// within its brick (`0, b0, b0 + b1`).
    pub place_shift: [u32; 3],
    /// Local, bricked: log2 of entries per brick (local: a block's; bricked: a block's or
    /// fewer).
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
            if hashing == Hashing::Bricked {
                if let Some(bricked) = bricked_dense(resolution, dim, table, log2_entries_per_block)
                {
                    grid = bricked;
                }
            }
        } else if hashing != Hashing::Spatial {
            let bits = brick_bits(log2_entries_per_block, dim);
            grid.indexing = Indexing::Local;
            grid.mask = ((table >> log2_entries_per_block) - 1) as u32;
            grid.brick_bits = bits;
            grid.place_shift = [0, bits[0], bits[0] + bits[1]];
            grid.block_bits = log2_entries_per_block;
        }
        grid
    }

    /// Whether the level is indexed densely (its grid fits in the table), by rows or bricks.
    #[cfg(test)]
    pub fn dense(&self) -> bool {
        matches!(self.indexing, Indexing::Dense | Indexing::Bricked)
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
            Indexing::Local | Indexing::Bricked => {
                // The brick's hash (local) or row-major number (bricked, whose mask is all
                // ones), then the vertex's place in the brick.
                let mut brick = 0u32;
                let mut place = 0u32;
                for d in 0..3 {
                    let bits = self.brick_bits[d];
                    let term = (v[d] >> bits).wrapping_mul(m[d]);
                    brick = if self.indexing == Indexing::Local {
                        brick ^ term
                    } else {
                        brick.wrapping_add(term)
                    };
                    place |= (v[d] & ((1 << bits) - 1)) << self.place_shift[d];
                }
                ((brick & self.mask) << self.block_bits) | place
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

/// The bricked grid of a dense level (`(resolution + 1)^dim` vertices fit `table`): the
/// largest brick of at most `2^log2_entries_per_block` vertices and at least 2 per axis whose
/// padded brick grid fits the table, or `None` if none does (the level keeps its rows).
fn bricked_dense(
    resolution: u32,
    dim: u8,
    table: u64,
    log2_entries_per_block: u32,
) -> Option<LevelGrid> {
    let side = resolution as u64 + 1;
    (dim as u32..=log2_entries_per_block).rev().find_map(|k| {
        let bits = brick_bits(k, dim);
        let count: [u64; 3] = std::array::from_fn(|d| side.div_ceil(1 << bits[d]));
        let bricks: u64 = count[..dim as usize].iter().product();
        (bricks << k <= table).then(|| LevelGrid {
            resolution,
            indexing: Indexing::Bricked,
            multipliers: [
                1,
                count[0] as u32,
                if dim == 3 {
                    (count[0] * count[1]) as u32
                } else {
                    0
                },
            ],
            mask: u32::MAX,
            brick_bits: bits,
            place_shift: [0, bits[0], bits[0] + bits[1]],
            block_bits: k,
        })
    })
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

    /// The distinct blocks (of `2^block_bits` entries) a cell's corners touch.
    fn blocks_of_cell(grid: &LevelGrid, cell: [u32; 3], dim: usize, block_bits: u32) -> usize {
        let mut c = Corners::default();
        corners_scalar(grid, cell, [0.5; 3], &mut c);
        let mut blocks: Vec<u32> = c.index[..1 << dim]
            .iter()
            .map(|e| e >> block_bits)
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        blocks.len()
    }

    /// Every vertex of a level's grid, `v[2] = 0` in 2-D.
    fn vertices(resolution: u32, dim: u8) -> impl Iterator<Item = [u32; 3]> {
        let top = if dim == 3 { resolution } else { 0 };
        (0..=top).flat_map(move |z| {
            (0..=resolution).flat_map(move |y| (0..=resolution).map(move |x| [x, y, z]))
        })
    }

    #[test]
    fn bricked_dense_levels_give_every_vertex_its_own_entry_in_the_table() {
        // (dim, resolution, log2_table, log2 entries per block, log2 entries per brick).
        for (dim, resolution, log2_table, block_bits, brick) in [
            (3, 80, 20, 10, Some(10)),  // 81³ in 6 × 11 × 11 bricks of 16 × 8 × 8
            (3, 153, 22, 10, Some(10)), // the 1 GiB layout's finest dense level: 4000 bricks
            (3, 39, 16, 10, Some(9)),   // 3 × 5 × 5 × 1024 > 2^16: bricks of 8 × 8 × 8
            (3, 24, 14, 10, None),      // 25³ of 16,384: no brick of 2 × 2 × 2 or more fits
            (3, 16, 14, 9, Some(9)),
            (2, 100, 14, 10, Some(10)), // 101² in 4 × 4 bricks of 32 × 32
            (2, 127, 14, 10, Some(10)), // 128² = 2^14: exactly 16 bricks
            (2, 180, 15, 10, None),     // 181² of 32,768: no brick of 2 × 2 or more fits
        ] {
            let grid =
                LevelGrid::with_hashing(resolution, dim, log2_table, Hashing::Bricked, block_bits);
            let what = format!("dim {dim}, resolution {resolution}, 2^{log2_table}: {grid:?}");
            match brick {
                Some(k) => {
                    assert_eq!(grid.indexing, Indexing::Bricked, "{what}");
                    assert_eq!(grid.block_bits, k, "{what}");
                }
                None => {
                    assert_eq!(grid.indexing, Indexing::Dense, "{what}");
                    let rows = LevelGrid::with_hashing(
                        resolution,
                        dim,
                        log2_table,
                        Hashing::Local,
                        block_bits,
                    );
                    assert_eq!(grid.multipliers, rows.multipliers, "the row layout: {what}");
                }
            }
            let mut seen = vec![false; 1 << log2_table];
            let mut count = 0u64;
            for v in vertices(resolution, dim) {
                let e = grid.index(v) as usize;
                assert!(e < seen.len(), "{v:?} → {e}, outside the table: {what}");
                assert!(!seen[e], "{v:?} → {e}, an entry taken twice: {what}");
                seen[e] = true;
                count += 1;
            }
            assert_eq!(count, (resolution as u64 + 1).pow(dim as u32));
        }
        // Brick (1, 2, 3) of 16 × 8 × 8 in the 6 × 11 × 11 grid is number 1 + 2·6 + 3·66.
        let grid = LevelGrid::with_hashing(80, 3, 20, Hashing::Bricked, 10);
        assert_eq!(grid.index([16, 16, 24]), (1 + 12 + 198) << 10);
        assert_eq!(
            grid.index([17, 17, 25]),
            ((1 + 12 + 198) << 10) | (1 + 16 + 128)
        );
    }

    #[test]
    fn a_cell_inside_one_brick_touches_one_block() {
        for (dim, resolution, log2_table, block_bits) in [
            (3, 80, 20, 10),
            (3, 39, 16, 10),
            (3, 20, 14, 9),
            (2, 100, 14, 10),
        ] {
            let bricked =
                LevelGrid::with_hashing(resolution, dim, log2_table, Hashing::Bricked, block_bits);
            let rows =
                LevelGrid::with_hashing(resolution, dim, log2_table, Hashing::Local, block_bits);
            assert_eq!(rows.indexing, Indexing::Dense);
            assert_eq!(bricked.indexing, Indexing::Bricked);
            let (mut inside, mut cells) = (0u64, 0u64);
            let (mut touched_bricked, mut touched_rows) = (0usize, 0usize);
            for cell in vertices(resolution - 1, dim) {
                let one_brick = (0..dim as usize).all(|d| {
                    cell[d] >> bricked.brick_bits[d] == (cell[d] + 1) >> bricked.brick_bits[d]
                });
                let blocks = blocks_of_cell(&bricked, cell, dim as usize, block_bits);
                if one_brick {
                    assert_eq!(blocks, 1, "cell {cell:?} of {bricked:?}");
                    inside += 1;
                }
                cells += 1;
                touched_bricked += blocks;
                touched_rows += blocks_of_cell(&rows, cell, dim as usize, block_bits);
            }
            assert!(
                inside > cells / 4,
                "{inside} of {cells} cells inside a brick"
            );
            assert!(
                touched_bricked < touched_rows,
                "dim {dim}, resolution {resolution}: {touched_bricked} blocks against {touched_rows}"
            );
        }
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
