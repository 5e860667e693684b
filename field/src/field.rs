//! [`Field`]: the API. A multiresolution hash-grid feature field (Instant-NGP's encoding) whose
//! tables live in a crash-safe sparse block file, with the blocks in use held in memory.
//!
//! A query (or update) at `x` finds `x`'s tile, then at every level the cell around `x`, its
//! `2^dim` vertices' table entries (`kernel::corners`), the blocks holding them (loaded from the
//! file, or given their initial values, the first time), and interpolates their features
//! (`kernel::blend`); the output concatenates the levels. An update applies one SGD step to the
//! same entries, each receiving its interpolation weight's share of the gradient, and marks
//! their blocks dirty; dirty blocks reach the file on [`Field::flush`], when their number
//! reaches the write-back threshold, when a dirty block must leave the hot tier, and when the
//! field is dropped (through the background writer in every case).
//!
//! A single query that misses blocks reads them together at its first miss, then walks its
//! levels as before (session 21, `query`: the same answers and statistics, one wait).
//!
//! Under a [`Budget`] (`tiers`), a block first touched by a query while the hot tier is full
//! is read into the warm tier (f16); later queries read its f16 copy until its second touch
//! there promotes it to hot. Since session 12 a query's promotion converts the warm copy
//! back to f32 instead of reading the file again: the hot values are then *approximate*
//! (within f16 rounding, the warm copy's error) until an update, `block_values` or
//! `write_block` needs the block, which reads its exact values first. Updates always work
//! on exact hot blocks.
//! A dirty block that must leave hot, and every dirty block when their number reaches the
//! write-back threshold, are handed to the background writer (`writer`): copied, marked clean,
//! and written back and synced on the writer's thread; until then a load of such a block reads
//! its in-flight copy. [`Field::flush`] waits for the writer and writes the store's index. [`Field::prefetch`] and [`Field::query_batch`] load the blocks of known
//! future points ahead, together and in block-id order, pinning them so that loading one does
//! not evict another (exact look-ahead; the module `prefetch` holds the predictors judged
//! offline). Since session 11 those reads run on a background reader (`reader`, the field's
//! side in `read_ahead`): `prefetch` returns once its reads are queued, and `query_batch`
//! answers the points whose blocks are resident while the others' blocks load.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{Error, Result};
use crate::hash::{Corners, LevelGrid};
use crate::init;
use crate::kernel::Kernel;
use crate::layout::{Blocking, Layout};
use crate::reader::Reader;
use crate::store::{BlockStore, CheckReport, StoreStats};
use crate::tiers::{Budget, IdBuild, Place, Tiers};
use crate::writer::Writer;
pub use crate::writer::DEFAULT_WRITE_BEHIND_BYTES;
pub use budget::MAP_SHARE;
pub use predict::Predictor;
pub use promote::{promote_at, PROMOTE_AT_COUNT};
pub use read_ahead::DEFAULT_READ_AHEAD_BLOCKS;
pub use train::HAND_OVER_STEP;

mod batch;
mod budget;
mod predict;
mod promote;
mod query;
mod read_ahead;
mod train;

/// Blocks the batch path reads per call of its I/O step (bounds the memory of values read
/// and not yet placed to this many blocks).
pub const GATHER_CHUNK: usize = 64;

/// Dirty blocks that trigger a write-back by default.
pub const DEFAULT_WRITE_BACK_THRESHOLD: usize = 1024;

/// Counts describing a field's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Blocks in the hot tier (f32).
    pub hot_blocks: usize,
    /// Blocks in the warm tier (f16).
    pub warm_blocks: usize,
    /// Hot blocks changed since their last write-back.
    pub dirty_blocks: usize,
    /// Blocks with a version in the file.
    pub stored_blocks: usize,
    /// Bytes of 2 MiB regions obtained from SACS for hot blocks.
    pub hot_region_bytes: usize,
    /// Bytes of warm blocks' values.
    pub warm_bytes: usize,
    /// Bytes of the store's block map as allocated (`BlockStore::map_bytes`).
    pub map_bytes: usize,
    /// Blocks read from the file (or given their initial values) since the field was opened.
    pub loads: u64,
    /// Write-backs (each one `fdatasync`) since the field was opened, all done by the
    /// background writer.
    pub write_backs: u64,
    /// Bytes of dirty blocks' copies handed to the background writer and not yet written.
    pub write_behind_bytes: usize,
    /// The most such bytes held at once.
    pub write_behind_peak_bytes: usize,
    /// Hand-overs to the writer that waited for room among the copies in flight (on the
    /// caller's thread).
    pub write_behind_waits: u64,
    /// Their total wait, in nanoseconds.
    pub write_behind_wait_ns: u64,
    /// Feature rows that queries read from warm (f16) blocks.
    pub warm_reads: u64,
    /// Time the caller's thread spent in the [`TailCounters`]' parts, since the field was
    /// opened.
    pub tail: TailCounters,
    /// Blocks loaded ahead of their queries (by `prefetch` or a batch's gathering step),
    /// counted in `loads` too.
    pub gathered: u64,
    /// Of those, the blocks a query or update then reached while they were resident (the
    /// rest were evicted unused, or are still waiting): `ahead_used / gathered` is the
    /// prefetch's accuracy.
    pub ahead_used: u64,
    /// Points the live predictor handed to `prefetch` ([`Field::set_predictor`]).
    pub predictions: u64,
    /// Block residencies (a load until the block leaves memory) since the budget was set,
    /// the current ones included.
    pub residencies: u64,
    /// Distinct entries read or updated, summed over those residencies.
    pub entries_used: u64,
    /// Entries per block.
    pub entries_per_block: usize,
}

impl Stats {
    /// Block utilisation: the share of a loaded block's entries that were used before it left
    /// memory, on average (0 when nothing was loaded).
    pub fn utilisation(&self) -> f64 {
        if self.residencies == 0 {
            return 0.0;
        }
        self.entries_used as f64 / (self.residencies as f64 * self.entries_per_block as f64)
    }
}

/// Where the caller's thread spends time besides the kernels, for finding out what makes
/// slow calls slow (cheap to read: [`Field::tail_counters`]). Every time is in nanoseconds,
/// cumulative since the field was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TailCounters {
    /// Blocks loaded on the caller's thread (read from the file or an in-flight copy, or
    /// given their initial values; those of a joint read each when its query uses it).
    pub loads: u64,
    /// Single queries' joint reads (session 21): at its first miss, a query reads the missing
    /// blocks of its remaining levels together (one `read_many`; their time is in
    /// `load_ns`).
    pub joint_reads: u64,
    /// The blocks those joint reads read.
    pub joint_blocks: u64,
    /// Query rows whose block was not resident (nor its read pending): the demand misses of
    /// queries, which a prefetch avoids (its coverage). Warm blocks promoted to hot are not
    /// misses.
    pub misses: u64,
    /// Warm blocks a query promoted to hot from their f16 copies (no read; session 12).
    pub promotions: u64,
    /// Approximate hot blocks (so promoted) read again from the file because an update,
    /// `block_values` or `write_block` needed their exact values (counted in `loads`).
    pub exact_reloads: u64,
    /// Blocks an update read from the file (or a copy in flight to it) although their warm
    /// (f16) copy was resident: an update needs exact values (counted in `loads`).
    pub update_warm_loads: u64,
    /// Of those, blocks loaded ahead (by `prefetch` or the live predictor) that this update
    /// was the first to use: read twice, so the read ahead avoided no load.
    pub update_ahead_loads: u64,
    /// The loads' time (every load's, on the caller's thread).
    pub load_ns: u64,
    /// Waits for a block's pending background read, and their time.
    pub read_waits: u64,
    /// See `read_waits`.
    pub read_wait_ns: u64,
    /// Evictions from hot (the victim handed to the writer if dirty, then moved to warm as
    /// f16, or dropped), and their time (a wait for room in flight included).
    pub evictions: u64,
    /// See `evictions`.
    pub eviction_ns: u64,
    /// Steps handing dirty blocks over because their number reached the write-back threshold
    /// (at most [`HAND_OVER_STEP`] blocks each, never waiting), their time and the blocks
    /// handed over.
    pub dirty_hand_overs: u64,
    /// See `dirty_hand_overs`.
    pub dirty_hand_over_ns: u64,
    /// See `dirty_hand_overs`.
    pub dirty_blocks_handed: u64,
    /// Waits of hand-overs for room among the copies in flight, and their time (within the
    /// evictions' and dirty hand-overs' times).
    pub write_waits: u64,
    /// See `write_waits`.
    pub write_wait_ns: u64,
}

/// A paged neural field backed by one file.
pub struct Field {
    layout: Layout,
    grids: Vec<LevelGrid>,
    blocking: Blocking,
    kernel: Kernel,
    store: Arc<RwLock<BlockStore>>,
    writer: Writer,
    /// Whether the caller set the write-behind bound (a resident budget then keeps it).
    write_behind_explicit: bool,
    /// Whether the caller set the read-ahead bound (likewise).
    read_ahead_explicit: bool,
    tiers: Tiers,
    write_back_threshold: usize,
    /// The batch path's read buffer ([`GATHER_CHUNK`] blocks), kept between batches; also a
    /// single query's joint read (`query`).
    gather_buf: Vec<f32>,
    /// The blocks of the current single query's joint read, their values in `gather_buf` in
    /// this order (empty outside a query, and when it read nothing together).
    joint: Vec<u64>,
    /// Which of them the query has used (bit `i`: `joint[i]`).
    joint_taken: u64,
    /// Whether single queries read their missing blocks together (`set_joint_reads`).
    joint_reads: bool,
    /// The background reader (`read_ahead`), created at the first request.
    reader: Option<Reader>,
    /// The most block reads pending at once (0: no reader).
    read_ahead: usize,
    /// Blocks whose reads are pending (requested, not yet placed), with their tickets and
    /// whether they are for an update (`read_ahead::Pending`).
    pending: std::collections::HashMap<u64, read_ahead::Pending, IdBuild>,
    /// Reused buffers: blocks to request, reads taken, one block's initial values.
    request_buf: Vec<u64>,
    done_buf: Vec<crate::reader::Loaded>,
    load_buf: Vec<f32>,
    /// The budget given to `set_resident_budget` and its plan, while it is in force.
    resident: Option<budget::Resident>,
    /// The caller's time by part (`Field::tail_counters`), the writer's waits excepted.
    tail: TailCounters,
    /// Whether the dirty blocks are being handed over step by step (`train`), the hot slot
    /// the next step looks at first, and the slots swept since the hand-over started.
    draining: bool,
    drain_cursor: usize,
    drain_swept: usize,
    /// The promotion threshold in force, and whether the caller set it (`set_promote_at`).
    promote_at: u8,
    promote_at_set: bool,
    /// The live predictor, when on.
    live: Option<predict::Live>,
    /// Predictions it handed to `prefetch`.
    predictions: u64,
    loads: u64,
    warm_reads: u64,
    gathered: u64,
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
        let grids = LevelGrid::for_layout(&layout);
        let blocking = *store.blocking();
        let store = Arc::new(RwLock::new(store));
        Field {
            writer: Writer::new(Arc::clone(&store), DEFAULT_WRITE_BEHIND_BYTES),
            write_behind_explicit: false,
            read_ahead_explicit: false,
            layout,
            grids,
            blocking,
            kernel: Kernel::best(),
            store,
            tiers: Tiers::new(
                blocking.floats_per_block(),
                blocking.entries_per_block(),
                Budget::UNLIMITED,
            ),
            write_back_threshold: DEFAULT_WRITE_BACK_THRESHOLD,
            gather_buf: Vec::new(),
            joint: Vec::new(),
            joint_taken: 0,
            joint_reads: true,
            reader: None,
            read_ahead: DEFAULT_READ_AHEAD_BLOCKS,
            pending: Default::default(),
            request_buf: Vec::new(),
            done_buf: Vec::new(),
            load_buf: Vec::new(),
            resident: None,
            tail: TailCounters::default(),
            draining: false,
            drain_cursor: 0,
            drain_swept: 0,
            promote_at: 2,
            promote_at_set: false,
            live: None,
            predictions: 0,
            loads: 0,
            warm_reads: 0,
            gathered: 0,
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

    /// Sets the memory budget for resident blocks. Writes dirty blocks back and empties the
    /// tiers first (utilisation counts start again).
    pub fn set_budget(&mut self, budget: Budget) -> Result<()> {
        self.resident = None;
        self.replace_tiers(budget)
    }

    fn replace_tiers(&mut self, budget: Budget) -> Result<()> {
        self.discard_reads()?;
        self.flush()?;
        self.new_tiers(budget);
        Ok(())
    }

    /// Empty tiers for `budget`, and the promotion threshold derived from them (unless set).
    fn new_tiers(&mut self, budget: Budget) {
        self.tiers = Tiers::new(
            self.blocking.floats_per_block(),
            self.blocking.entries_per_block(),
            budget,
        );
        if !self.promote_at_set {
            let (hot, warm) = self.tiers.slots();
            let query_blocks = self.grids.len() << self.layout.dim;
            self.promote_at = promote_at(hot, warm, query_blocks);
        }
    }

    /// The most bytes the hot tier's regions may take under the budget (a multiple of 2 MiB).
    pub fn hot_bytes_bound(&self) -> usize {
        self.tiers.hot_bytes_bound()
    }

    /// Sets how many dirty blocks trigger a write-back (at least 1).
    pub fn set_write_back_threshold(&mut self, blocks: usize) {
        self.write_back_threshold = blocks.max(1);
    }

    /// Bounds the bytes of dirty blocks' copies handed to the background writer and not yet
    /// written ([`DEFAULT_WRITE_BEHIND_BYTES`] by default; one block is always admitted): a
    /// hand-over that would pass it waits for the writer.
    pub fn set_write_behind_bytes(&mut self, bytes: usize) {
        self.write_behind_explicit = true;
        self.writer.set_limit(bytes);
    }

    /// The bound set by [`Field::set_write_behind_bytes`].
    pub fn write_behind_bytes(&self) -> usize {
        self.writer.limit()
    }

    fn store(&self) -> RwLockReadGuard<'_, BlockStore> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn store_mut(&self) -> RwLockWriteGuard<'_, BlockStore> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
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

    fn check_finite(what: &'static str, values: &[f32]) -> Result<()> {
        if values.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(Error::NotFinite(what))
        }
    }

    /// The tile holding `x` and `x`'s coordinates inside it ([`Layout::tile_of`]).
    fn tile_of(&self, x: &[f32]) -> (u64, [f32; 3]) {
        self.layout.tile_of(x)
    }

    /// The block's newest version — its copy in flight to the file, or its stored version —
    /// or its initial values if it has neither; taken from the current query's joint read if
    /// it holds the block (`query`).
    fn load(&mut self, block: u64) -> Result<Vec<f32>> {
        let started = std::time::Instant::now();
        let floats = self.blocking.floats_per_block();
        let mut values = vec![0f32; floats];
        if let Some(i) = self.joint.iter().position(|&b| b == block) {
            // Read together with the rest of its query's blocks (`query`).
            values.copy_from_slice(&self.gather_buf[i * floats..(i + 1) * floats]);
            self.joint_taken |= 1 << i;
        } else if !self.writer.copy_in_flight(block, &mut values)
            && !self.store().read(block, &mut values)?
        {
            init::fill(self.layout.seed, self.layout.init_scale, block, &mut values);
        }
        self.loads += 1;
        self.tail.loads += 1;
        self.tail.load_ns += started.elapsed().as_nanos() as u64;
        Ok(values)
    }

    /// The hot slot of `block` with its exact values, making it hot first: promoted from warm
    /// or loaded from the file (read first, so a failed read changes nothing), into a free
    /// slot or the CLOCK's victim (handed to the writer first if dirty). A hot block whose
    /// values are approximate (promoted by a query from its f16 copy) reads them exactly.
    fn hot_slot(&mut self, block: u64) -> Result<usize> {
        self.await_block(block)?;
        let warm = match self.tiers.touch(block) {
            Some(Place::Hot(slot)) if !self.tiers.is_approx(slot) => return Ok(slot),
            Some(Place::Hot(slot)) => {
                let values = self.load(block)?;
                self.tiers.make_exact(slot, &values);
                self.tail.exact_reloads += 1;
                return Ok(slot);
            }
            Some(Place::Warm(slot)) => Some(slot),
            None => None,
        };
        let values = self.load(block)?;
        // Clean, so losing this copy if what follows fails loses nothing.
        let used = warm.map(|slot| self.tiers.remove_warm(slot));
        let slot = if self.tiers.hot_has_room() {
            self.tiers.push_hot(block)?
        } else {
            self.evict_hot_for(block)?
        };
        self.tiers.hot_values_mut(slot).copy_from_slice(&values);
        if let Some(used) = used {
            self.tiers.carry_used(slot, used);
        }
        Ok(slot)
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

    /// Gives the CLOCK's hot victim to `block` (not resident): the victim is handed to the
    /// writer first if dirty, then moves to warm (or is dropped). Returns the slot.
    fn evict_hot_for(&mut self, block: u64) -> Result<usize> {
        let started = std::time::Instant::now();
        let victim = self.tiers.hot_victim();
        self.hand_over(victim)?;
        self.tiers.replace_hot(victim, block);
        self.tail.evictions += 1;
        self.tail.eviction_ns += started.elapsed().as_nanos() as u64;
        Ok(victim)
    }

    /// If hot slot `slot` is dirty, hands a copy of its values to the background writer
    /// (which may wait for room among the copies in flight) and marks it clean.
    fn hand_over(&mut self, slot: usize) -> Result<()> {
        if self.tiers.is_dirty(slot) {
            let block = self.tiers.hot_block(slot);
            let new = self.is_new_block(block);
            self.writer.submit(block, self.tiers.hot_values(slot))?;
            if new {
                self.count_new_block();
            }
            self.tiers.mark_clean(slot);
        }
        Ok(())
    }

    /// Hands every dirty block to the background writer (at `flush` and on drop); does not
    /// wait for the writes.
    fn hand_over_dirty(&mut self) -> Result<()> {
        for slot in self.tiers.dirty_slots() {
            self.hand_over(slot)?;
        }
        self.draining = false;
        Ok(())
    }

    /// The caller's time by part since the field was opened (cheap: no scan of the tiers,
    /// unlike [`Field::stats`]).
    pub fn tail_counters(&self) -> TailCounters {
        let writer = self.writer.stats();
        TailCounters {
            write_waits: writer.waits,
            write_wait_ns: writer.wait_ns,
            ..self.tail
        }
    }

    /// Writes every dirty block back to the file, waits until every block handed to the
    /// background writer is written and synced, then writes the store's index (so that an
    /// open after a later crash with no write-back since reads the index instead of scanning;
    /// the next write-back zeroes its footer first). See `store` for the crash safety.
    pub fn flush(&mut self) -> Result<()> {
        self.hand_over_dirty()?;
        self.writer.drain()?;
        self.store_mut().write_index()
    }

    /// Waits until every block handed to the background writer (evicted dirty blocks, and
    /// those of write-backs the threshold started) is written and synced; unlike
    /// [`Field::flush`], writes neither the blocks still dirty in memory nor the index.
    pub fn wait_for_write_backs(&self) -> Result<()> {
        self.writer.drain()
    }

    /// What the block store did: how the file was opened, slot reads, write-backs, index
    /// writes and invalidations.
    pub fn store_stats(&self) -> StoreStats {
        self.store().stats()
    }

    /// The exact current values of a block (`entries_per_block × features` floats); makes it
    /// hot.
    pub fn block_values(&mut self, block: u64) -> Result<Vec<f32>> {
        let slot = self.hot_slot(block)?;
        Ok(self.tiers.hot_values(slot).to_vec())
    }

    /// Sets a block's values (`entries_per_block × features` finite floats) exactly: the
    /// block becomes hot and dirty and reaches the file at the next write-back (used to fill a
    /// field file, e.g. by the benchmark).
    pub fn write_block(&mut self, block: u64, values: &[f32]) -> Result<()> {
        Field::check_len("values", values.len(), self.blocking.floats_per_block())?;
        Field::check_finite("values", values)?;
        let blocks = self.blocking.block_count(&self.layout);
        if block >= blocks {
            return Err(Error::NoSuchBlock { block, blocks });
        }
        self.keep_map_room()?;
        let slot = self.hot_slot(block)?;
        self.tiers
            .hot_values_for_update(slot)
            .copy_from_slice(values);
        self.hand_over_step()
    }

    /// Ids of the blocks with a version in the file, sorted.
    pub fn stored_blocks(&self) -> Vec<u64> {
        self.store().present_blocks()
    }

    /// Ids of the blocks held in memory (hot or warm), sorted.
    pub fn resident_blocks(&self) -> Vec<u64> {
        self.tiers.resident_blocks()
    }

    /// Reads every stored block's slots and counts those that check out (a diagnostic; it
    /// reads the whole file).
    pub fn check_file(&mut self) -> Result<CheckReport> {
        self.store().check()
    }

    /// The file's length and the bytes it occupies on disk.
    pub fn disk_usage(&self) -> Result<(u64, u64)> {
        self.store().disk_usage()
    }

    /// Counts of resident, dirty, stored and loaded blocks, write-backs and utilisation.
    pub fn stats(&self) -> Stats {
        let (hot_blocks, warm_blocks) = self.tiers.counts();
        let (hot_region_bytes, warm_bytes) = self.tiers.bytes();
        let usage = self.tiers.utilisation();
        let writer = self.writer.stats();
        let (stored_blocks, map_bytes) = {
            let store = self.store();
            (store.present_count(), store.map_bytes())
        };
        Stats {
            hot_blocks,
            warm_blocks,
            dirty_blocks: self.tiers.dirty_count(),
            stored_blocks,
            map_bytes,
            hot_region_bytes,
            warm_bytes,
            loads: self.loads,
            write_backs: writer.write_backs,
            write_behind_bytes: writer.bytes,
            write_behind_peak_bytes: writer.peak_bytes,
            write_behind_waits: writer.waits,
            write_behind_wait_ns: writer.wait_ns,
            warm_reads: self.warm_reads,
            tail: self.tail_counters(),
            gathered: self.gathered,
            ahead_used: self.tiers.ahead_used(),
            predictions: self.predictions,
            residencies: usage.residencies,
            entries_used: usage.entries_used,
            entries_per_block: self.blocking.entries_per_block(),
        }
    }
}

impl Drop for Field {
    /// Writes dirty blocks back (the writer's thread is then joined and the store, dropped
    /// last, writes its index); an error here is lost (call [`Field::flush`] to see it).
    fn drop(&mut self) {
        let _ = self.hand_over_dirty();
    }
}
