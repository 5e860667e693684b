//! The shape of a field: its parameters ([`Layout`]), checked once, and the geometry derived
//! from them (each level's grid resolution, how table entries group into blocks, and which
//! block id an entry lives in).
//!
//! A field covers the unit cube `[0, 1]^dim`. It is split into `tiles_per_axis^dim` tiles, each
//! holding its own multiresolution hash grid (Instant-NGP's encoding) over its part of the cube;
//! with one tile per axis it is exactly Instant-NGP's encoding. Tiles are what lets the logical
//! size grow far beyond one grid's (`levels × table × features` floats): a large scene is many
//! tiles, and a query touches one.
//!
//! Every (tile, level) table of `2^log2_table` entries is cut into blocks of `entries_per_block`
//! entries (a power of two, as many as fit in `2^log2_block_bytes` bytes of f32 features). Block
//! ids number the blocks of all tables in order: `(tile × levels + level) × blocks_per_table +
//! entry / entries_per_block`.
//!
//! How a hashed level's vertices map to table entries is the layout's [`Hashing`]: Instant-NGP's
//! spatial hash of each vertex ([`Hashing::Spatial`]), or a hash of the *brick* of vertices
//! around it to a whole block, with the vertex placed inside that block by its position in the
//! brick ([`Hashing::Local`], see `hash`). Levels whose grid fits in the table are indexed
//! densely: row by row under those two, brick by brick under [`Hashing::Bricked`] (the local
//! hashing's fine levels with bricked dense levels).

use crate::error::{Error, Result};

/// Bounds of the parameters, inclusive.
pub mod bounds {
    /// Smallest and largest table size per level, as a power of two.
    pub const LOG2_TABLE: (u8, u8) = (14, 24);
    /// Features per entry.
    pub const FEATURES: (u8, u8) = (2, 8);
    /// Levels.
    pub const LEVELS: (u8, u8) = (1, 32);
    /// Block size in the file, as a power of two (4 KiB – 64 KiB).
    pub const LOG2_BLOCK_BYTES: (u8, u8) = (12, 16);
    /// Finest grid resolution across the whole cube (`tiles_per_axis × finest_resolution`):
    /// an f32 coordinate in `[0, 1]` still resolves a sixteenth of a cell at 2^20 cells.
    pub const MAX_RESOLUTION: u32 = 1 << 20;
    /// Tiles per axis.
    pub const MAX_TILES_PER_AXIS: u32 = 1 << 20;
}

/// The parameters of a field, stored in its file header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// Input dimension: 2 or 3.
    pub dim: u8,
    /// Number of resolution levels (1 – 32).
    pub levels: u8,
    /// Entries per level's table, as a power of two (14 – 24).
    pub log2_table: u8,
    /// Features per entry (2 – 8).
    pub features: u8,
    /// Grid resolution of the coarsest level, per tile (cells per axis, ≥ 1).
    pub base_resolution: u32,
    /// Grid resolution of the finest level, per tile (≥ `base_resolution`; times
    /// `tiles_per_axis`, ≤ 2^20).
    pub finest_resolution: u32,
    /// Tiles per axis (≥ 1); each tile has its own hash grid.
    pub tiles_per_axis: u32,
    /// Block size in the file, as a power of two (12 – 16: 4 KiB – 64 KiB).
    pub log2_block_bytes: u8,
    /// Entries never written read as uniform values in `[-init_scale, init_scale]`, a
    /// deterministic function of `seed` and the entry's place (0 gives zeros).
    pub init_scale: f32,
    /// Seed of the initial values.
    pub seed: u64,
    /// How blocks are stored in the file (the cold tier).
    pub cold_encoding: Encoding,
    /// How levels place vertices in their table.
    pub hashing: Hashing,
}

/// How a level maps vertices to entries. A *hashed* level is one whose grid does not fit in
/// its table; a *dense* one fits (`(r+1)^dim ≤ table`) and has an entry per vertex.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Hashing {
    /// Instant-NGP's spatial hash of each vertex: `(x·1 ⊕ y·2654435761 ⊕ z·805459861) mod T`.
    /// A query's vertices land in unrelated blocks, so a block read brings a few useful
    /// entries.
    #[default]
    Spatial,
    /// Locality-aware: the level's vertices are cut into bricks of `entries_per_block`
    /// vertices (power-of-two sides, e.g. 16 × 8 × 8 for 1,024-entry blocks); a brick's
    /// coordinates are hashed (same primes) to one block of the table, and each vertex sits at
    /// its position in the brick. Neighbouring vertices share a block; collisions happen
    /// between whole bricks, never inside one. Dense levels keep the row layout
    /// `x + y·(r+1) + z·(r+1)²` (a cell spans up to 4 blocks).
    Local,
    /// [`Hashing::Local`] on hashed levels, and the dense levels laid out brick by brick too:
    /// the brick grid numbered row-major (no hash: the level fits), brick `n` at entries
    /// `n × brick_entries ..`, each vertex at its place in its brick. Bricks are a block's
    /// shape, or smaller (half, a quarter, … of a block, still inside one block) when the
    /// padded brick grid of a block-sized brick would not fit the table, down to 2 vertices
    /// per axis (below that the level keeps its rows); every vertex keeps an entry of its own.
    /// Files of the other hashings keep their layout (docs/field-locality.md, section 6).
    Bricked,
}

/// Every hashing, in code order.
pub const HASHINGS: [Hashing; 3] = [Hashing::Spatial, Hashing::Local, Hashing::Bricked];

impl Hashing {
    /// The code stored in the file header.
    pub fn code(self) -> u8 {
        match self {
            Hashing::Spatial => 0,
            Hashing::Local => 1,
            Hashing::Bricked => 2,
        }
    }

    /// The hashing of a stored code.
    pub fn from_code(code: u8) -> Option<Hashing> {
        match code {
            0 => Some(Hashing::Spatial),
            1 => Some(Hashing::Local),
            2 => Some(Hashing::Bricked),
            _ => None,
        }
    }

    /// A short name: `"spatial"`, `"local"` or `"bricked"`.
    pub fn name(self) -> &'static str {
        match self {
            Hashing::Spatial => "spatial",
            Hashing::Local => "local",
            Hashing::Bricked => "bricked",
        }
    }
}

impl std::str::FromStr for Hashing {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Hashing, String> {
        HASHINGS
            .into_iter()
            .find(|h| h.name() == s)
            .ok_or_else(|| format!("unknown hashing {s:?} (spatial, local or bricked)"))
    }
}

/// How a block's features are stored in the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// f32, exactly as in memory.
    #[default]
    F32,
    /// int8 with one f32 scale per block (`value = q × scale`, `scale = max |value| / 127`):
    /// a quarter of the bytes, an error of at most `scale / 2` per value, taken at each
    /// write-back.
    Int8,
}

impl Encoding {
    /// The code stored in the file.
    pub fn code(self) -> u8 {
        match self {
            Encoding::F32 => 0,
            Encoding::Int8 => 1,
        }
    }

    /// The encoding of a stored code.
    pub fn from_code(code: u8) -> Option<Encoding> {
        match code {
            0 => Some(Encoding::F32),
            1 => Some(Encoding::Int8),
            _ => None,
        }
    }

    /// A short name: `"f32"` or `"int8"`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::F32 => "f32",
            Encoding::Int8 => "int8",
        }
    }

    /// Bytes of a payload of `floats` values.
    pub fn payload_bytes(self, floats: usize) -> usize {
        match self {
            Encoding::F32 => 4 * floats,
            Encoding::Int8 => 4 + floats,
        }
    }
}

impl std::str::FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Encoding, String> {
        [Encoding::F32, Encoding::Int8]
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown cold encoding {s:?} (f32 or int8)"))
    }
}

impl Default for Layout {
    /// Instant-NGP's usual 3-D configuration scaled down: 16 levels of 2^19 entries, 2 features,
    /// resolutions 16 – 2048, one tile, 16 KiB blocks, initial values in ±1e-4, f32 in the file,
    /// Instant-NGP's spatial hash.
    fn default() -> Self {
        Layout {
            dim: 3,
            levels: 16,
            log2_table: 19,
            features: 2,
            base_resolution: 16,
            finest_resolution: 2048,
            tiles_per_axis: 1,
            log2_block_bytes: 14,
            init_scale: 1e-4,
            seed: 0,
            cold_encoding: Encoding::F32,
            hashing: Hashing::Spatial,
        }
    }
}

impl Layout {
    /// Checks every parameter against its bounds.
    pub fn validate(&self) -> Result<()> {
        fn within<T: PartialOrd + std::fmt::Display>(name: &str, v: T, lo: T, hi: T) -> Result<()> {
            if v < lo || v > hi {
                return Err(Error::InvalidLayout(format!(
                    "{name} = {v}, not in {lo} ..= {hi}"
                )));
            }
            Ok(())
        }
        within("dim", self.dim, 2, 3)?;
        within("levels", self.levels, bounds::LEVELS.0, bounds::LEVELS.1)?;
        within(
            "log2_table",
            self.log2_table,
            bounds::LOG2_TABLE.0,
            bounds::LOG2_TABLE.1,
        )?;
        within(
            "features",
            self.features,
            bounds::FEATURES.0,
            bounds::FEATURES.1,
        )?;
        within(
            "base_resolution",
            self.base_resolution,
            1,
            bounds::MAX_RESOLUTION,
        )?;
        within(
            "finest_resolution",
            self.finest_resolution,
            self.base_resolution,
            bounds::MAX_RESOLUTION,
        )?;
        within(
            "tiles_per_axis",
            self.tiles_per_axis,
            1,
            bounds::MAX_TILES_PER_AXIS,
        )?;
        within(
            "log2_block_bytes",
            self.log2_block_bytes,
            bounds::LOG2_BLOCK_BYTES.0,
            bounds::LOG2_BLOCK_BYTES.1,
        )?;
        let overall = self.tiles_per_axis as u64 * self.finest_resolution as u64;
        if overall > bounds::MAX_RESOLUTION as u64 {
            return Err(Error::InvalidLayout(format!(
                "tiles_per_axis × finest_resolution = {overall}, more than {}",
                bounds::MAX_RESOLUTION
            )));
        }
        if !(self.init_scale.is_finite() && self.init_scale >= 0.0) {
            return Err(Error::InvalidLayout(format!(
                "init_scale = {}, must be finite and ≥ 0",
                self.init_scale
            )));
        }
        Ok(())
    }

    /// Floats in one query's output: `levels × features`.
    pub fn output_len(&self) -> usize {
        self.levels as usize * self.features as usize
    }

    /// Entries per table.
    pub fn table_entries(&self) -> u64 {
        1 << self.log2_table
    }

    /// Number of tiles: `tiles_per_axis^dim`.
    pub fn tiles(&self) -> u64 {
        (self.tiles_per_axis as u64).pow(self.dim as u32)
    }

    /// The tile holding `x` (`dim` coordinates, clamped to the unit cube) and `x`'s
    /// coordinates inside it, in `[0, 1]`.
    pub(crate) fn tile_of(&self, x: &[f32]) -> (u64, [f32; 3]) {
        let tiles = self.tiles_per_axis;
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

    /// Bytes the field would take if every entry of every table were stored as f32: its
    /// logical size.
    pub fn logical_bytes(&self) -> u128 {
        self.tiles() as u128
            * self.levels as u128
            * self.table_entries() as u128
            * self.features as u128
            * 4
    }

    /// Grid resolution (cells per axis) of each level: `floor(base × b^level)` with the growth
    /// factor `b = exp((ln finest − ln base) / (levels − 1))`, as in Instant-NGP.
    pub fn resolutions(&self) -> Vec<u32> {
        let levels = self.levels as usize;
        let base = self.base_resolution as f64;
        let growth = if levels > 1 {
            ((self.finest_resolution as f64).ln() - base.ln()) / (levels as f64 - 1.0)
        } else {
            0.0
        };
        (0..levels)
            .map(|l| {
                let r = (base * (growth * l as f64).exp()).floor() as u32;
                // Rounding may land one below the finest; the last level is the finest itself.
                if l + 1 == levels && levels > 1 {
                    self.finest_resolution
                } else {
                    r.clamp(1, self.finest_resolution)
                }
            })
            .collect()
    }
}

/// How a field's tables are cut into blocks and where an entry lives.
#[derive(Clone, Copy, Debug)]
pub struct Blocking {
    /// Features per entry.
    pub features: usize,
    /// log2 of entries per block.
    pub log2_entries_per_block: u32,
    /// Blocks per (tile, level) table.
    pub blocks_per_table: u64,
    /// Levels per tile.
    pub levels: u64,
}

impl Blocking {
    /// The blocking of a validated layout.
    pub fn new(layout: &Layout) -> Blocking {
        let entry_bytes = layout.features as u64 * 4;
        let max_entries = (1u64 << layout.log2_block_bytes) / entry_bytes;
        // The largest power of two that fits, and never more than the table.
        let log2 = (63 - max_entries.leading_zeros()).min(layout.log2_table as u32);
        Blocking {
            features: layout.features as usize,
            log2_entries_per_block: log2,
            blocks_per_table: layout.table_entries() >> log2,
            levels: layout.levels as u64,
        }
    }

    /// Entries per block.
    pub fn entries_per_block(&self) -> usize {
        1 << self.log2_entries_per_block
    }

    /// f32 values per block (`entries_per_block × features`).
    pub fn floats_per_block(&self) -> usize {
        self.entries_per_block() * self.features
    }

    /// The id of the first block of a tile's level table.
    pub fn table_base(&self, tile: u64, level: usize) -> u64 {
        (tile * self.levels + level as u64) * self.blocks_per_table
    }

    /// Where table entry `entry` of the table starting at block `table_base` lives: its block
    /// id and the index of its first float in that block.
    #[inline]
    pub fn locate(&self, table_base: u64, entry: u32) -> (u64, usize) {
        let block = table_base + (entry as u64 >> self.log2_entries_per_block);
        let within = entry as usize & (self.entries_per_block() - 1);
        (block, within * self.features)
    }

    /// Total number of block ids of a layout (blocks, written or not).
    pub fn block_count(&self, layout: &Layout) -> u64 {
        layout.tiles() * self.levels * self.blocks_per_table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_grow_geometrically_from_base_to_finest() {
        let layout = Layout {
            levels: 16,
            base_resolution: 16,
            finest_resolution: 2048,
            ..Layout::default()
        };
        let r = layout.resolutions();
        assert_eq!(r.len(), 16);
        assert_eq!(r[0], 16);
        assert_eq!(r[15], 2048);
        // b = 128^(1/15) ≈ 1.3819: level 1 is floor(16 × b) = 22.
        assert_eq!(r[1], 22);
        assert!(r.windows(2).all(|w| w[0] <= w[1]), "{r:?}");
    }

    #[test]
    fn validation_rejects_each_out_of_range_parameter() {
        assert!(Layout::default().validate().is_ok());
        let bad = [
            Layout {
                dim: 4,
                ..Layout::default()
            },
            Layout {
                log2_table: 13,
                ..Layout::default()
            },
            Layout {
                log2_table: 25,
                ..Layout::default()
            },
            Layout {
                features: 1,
                ..Layout::default()
            },
            Layout {
                features: 9,
                ..Layout::default()
            },
            Layout {
                levels: 0,
                ..Layout::default()
            },
            Layout {
                finest_resolution: 8,
                ..Layout::default()
            },
            Layout {
                tiles_per_axis: 0,
                ..Layout::default()
            },
            Layout {
                tiles_per_axis: 1024,
                finest_resolution: 2048,
                ..Layout::default()
            },
            Layout {
                log2_block_bytes: 17,
                ..Layout::default()
            },
            Layout {
                init_scale: f32::NAN,
                ..Layout::default()
            },
        ];
        for l in bad {
            assert!(
                matches!(l.validate(), Err(Error::InvalidLayout(_))),
                "{l:?}"
            );
        }
    }

    #[test]
    fn encodings_parse_from_their_names() {
        for e in [Encoding::F32, Encoding::Int8] {
            assert_eq!(e.name().parse::<Encoding>(), Ok(e));
            assert_eq!(Encoding::from_code(e.code()), Some(e));
        }
        assert!("f16".parse::<Encoding>().is_err());
    }

    #[test]
    fn blocking_places_entries_in_power_of_two_blocks() {
        // 3 features = 12 bytes; 4 KiB holds 341, so 256 entries per block.
        let layout = Layout {
            features: 3,
            log2_block_bytes: 12,
            log2_table: 14,
            ..Layout::default()
        };
        let b = Blocking::new(&layout);
        assert_eq!(b.entries_per_block(), 256);
        assert_eq!(b.blocks_per_table, 64);
        let base = b.table_base(2, 5);
        assert_eq!(base, (2 * 16 + 5) * 64);
        assert_eq!(b.locate(base, 0), (base, 0));
        assert_eq!(b.locate(base, 257), (base + 1, 3));
        assert_eq!(b.block_count(&layout), 16 * 64);
    }
}
