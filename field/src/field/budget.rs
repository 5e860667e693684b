//! The resident budget ([`Field::set_resident_budget`]) and, since session 12, the block map's
//! growth under it.
//!
//! The store's block map (block id → pair) grows as blocks are written for the first time.
//! Before session 12 the plan counted the map as it was when the budget was set, and the
//! background writer's commits grew it behind the budget's back. Now:
//!
//! - **Reserved ahead**: `set_resident_budget` reserves the map (`BlockStore::reserve_blocks`)
//!   for more blocks than are present, and the plan counts the reserved table, so the map
//!   grows inside what the plan set aside. The reservation is every block of the layout when
//!   that table fits in [`MAP_SHARE`] of the budget (the common case: a field a few times its
//!   budget; the map then never grows again), else the larger of what fits in that share and
//!   twice the present blocks plus twice the blocks that may be handed over between two
//!   checks (below). The tiers are emptied before the map is reserved, so the table's
//!   rehash (old and new table at once) happens while they hold nothing.
//! - **Counted**: each block handed to the writer that is neither present in the file nor in
//!   flight to it is new: it will take a place in the map ([`Field::is_new_block`]).
//! - **Re-planned**: a block becomes dirty only in `update` and `write_block`; at the start of
//!   each ([`Field::keep_map_room`]), if the present blocks at the plan, the new blocks
//!   handed over since and the most that can be handed over before the next check (every
//!   hot block, plus one update's blocks) could pass the reservation, the budget is set
//!   again: a flush, the tiers emptied, the map reserved for at least twice the blocks
//!   present, the plan counted anew with the bigger table (the tiers get less). The
//!   reservation at least doubles each time, so over the writing of `n` new blocks this
//!   happens O(log n) times.
//!
//! What this does not do: when a re-plan shrinks the tiers, the memory they gave up goes back
//! to its allocators (hot regions to SACS's whale ring, warm copies to the global allocator),
//! which return it to the system on their own schedule; a map too big for the budget makes the
//! re-plan fail with [`Error::BudgetTooSmall`](crate::Error::BudgetTooSmall) (the map is not
//! paged).

use super::{Field, GATHER_CHUNK};
use crate::error::Result;
use crate::memory::{self, BudgetPlan};
use crate::store;
use crate::tiers::Budget;
use crate::writer::DEFAULT_WRITE_BEHIND_BYTES;

use super::read_ahead::DEFAULT_READ_AHEAD_BLOCKS;

/// The share of the budget (1 / this) the block map may be reserved in ahead of its blocks.
pub const MAP_SHARE: usize = 16;

/// The most blocks one update touches: 32 levels × 8 corners.
const UPDATE_BLOCKS: usize = 32 * 8;

/// A resident budget in force.
pub(super) struct Resident {
    pub(super) budget: Budget,
    pub(super) plan: BudgetPlan,
    /// Blocks present in the file when the plan was made.
    present: usize,
    /// Blocks the reserved map holds.
    capacity: usize,
    /// Whether that is every block of the layout (the map cannot grow).
    full: bool,
    /// New blocks handed to the writer since the plan.
    new_handed: usize,
}

impl Field {
    /// Sets a budget on the field's resident memory as a whole: like [`Field::set_budget`],
    /// but the field's memory outside its blocks' values — the store's block map (reserved
    /// ahead for blocks not yet written, see below), the tiers' tables, copies in flight to
    /// the writer, I/O buffers, the last hot region's unused rest — is set aside first
    /// (module `memory`), and the rest split between hot and warm in the budget's proportion.
    /// Unless set with [`Field::set_write_behind_bytes`], the bound on copies in flight
    /// becomes 1/64 of the budget (at least one block, at most [`DEFAULT_WRITE_BEHIND_BYTES`]);
    /// likewise, unless set with [`Field::set_read_ahead`], the bound on pending background
    /// reads becomes 1/64 of the budget in blocks (at least one, at most
    /// [`DEFAULT_READ_AHEAD_BLOCKS`]). Fails with [`Error::BudgetTooSmall`] if the fixed part
    /// and one hot block do not fit; the tiers are emptied first, so after a failure the
    /// field has no budget (unlimited, as after `set_budget(Budget::UNLIMITED)`). Returns how
    /// the budget was cut.
    ///
    /// The block map grows as blocks are written for the first time; the budget holds that
    /// growth too: the map is reserved ahead, and when blocks written since pass the
    /// reservation the budget is set again with a bigger one (a flush, the tiers emptied and
    /// made smaller; see the module `field::budget`).
    ///
    /// [`Error::BudgetTooSmall`]: crate::Error::BudgetTooSmall
    pub fn set_resident_budget(&mut self, budget: Budget) -> Result<BudgetPlan> {
        self.flush()?;
        // Empty first: the map's rehash below then needs no room beside full tiers.
        self.resident = None;
        self.replace_tiers(Budget::UNLIMITED)?;
        let total = budget.hot_bytes.saturating_add(budget.warm_bytes);
        let block_bytes = self.blocking.floats_per_block() * 4;
        if !self.write_behind_explicit {
            self.writer
                .set_limit((total / 64).clamp(block_bytes, DEFAULT_WRITE_BEHIND_BYTES));
        }
        if !self.read_ahead_explicit {
            self.read_ahead = (total / 64 / block_bytes).clamp(1, DEFAULT_READ_AHEAD_BLOCKS);
        }
        let layout_blocks =
            usize::try_from(self.blocking.block_count(&self.layout)).unwrap_or(usize::MAX);
        let (present, capacity, map_bytes) = {
            let mut store = self.store_mut();
            let present = store.present_count();
            let slack = total / block_bytes + UPDATE_BLOCKS;
            let share = store::map_capacity_within(total / MAP_SHARE);
            let wanted = if store::map_table_bytes(layout_blocks) <= total / MAP_SHARE {
                layout_blocks
            } else {
                (2 * present + 2 * slack).max(share).min(layout_blocks)
            };
            store.reserve_blocks(wanted);
            (present, store.map_capacity(), store.map_bytes())
        };
        let sizes = memory::Sizes {
            block_bytes,
            entries_per_block: self.blocking.entries_per_block(),
            slot_bytes: crate::format::slot_bytes(&self.blocking),
            map_bytes,
            write_behind_bytes: self.writer.limit(),
            gather_chunk: GATHER_CHUNK,
            read_ahead_blocks: self.read_ahead,
        };
        let plan = memory::plan(budget, sizes)?;
        self.new_tiers(plan.tiers);
        self.resident = Some(Resident {
            budget,
            plan,
            present,
            capacity,
            full: capacity >= layout_blocks,
            new_handed: 0,
        });
        Ok(plan)
    }

    /// How the resident budget in force was cut (the last plan, after any re-plan for the
    /// block map's growth); `None` without a resident budget.
    pub fn resident_plan(&self) -> Option<BudgetPlan> {
        self.resident.as_ref().map(|r| r.plan)
    }

    /// Whether `block`, about to be handed to the writer, is new to the block map: neither
    /// in the file nor in flight (checked in that order after the writer's: a copy leaves
    /// the in-flight map only after its commit). Always false when the map cannot grow.
    pub(super) fn is_new_block(&self, block: u64) -> bool {
        match &self.resident {
            Some(r) if !r.full => !self.writer.has_copy(block) && !self.store().is_present(block),
            _ => false,
        }
    }

    /// Counts a new block handed to the writer ([`Field::is_new_block`]).
    pub(super) fn count_new_block(&mut self) {
        if let Some(r) = &mut self.resident {
            r.new_handed += 1;
        }
    }

    /// Before a call that may dirty blocks: if the blocks that may be in the map by the next
    /// such call could pass its reservation, sets the budget again with a bigger one (see the
    /// module documentation).
    pub(super) fn keep_map_room(&mut self) -> Result<()> {
        let Some(r) = &self.resident else {
            return Ok(());
        };
        let reach = r.present + r.new_handed + self.tiers.hot_capacity() + UPDATE_BLOCKS;
        if r.full || reach <= r.capacity {
            return Ok(());
        }
        let budget = r.budget;
        self.set_resident_budget(budget).map(|_| ())
    }
}
