//! How a [`Budget`] is cut so that the memory a field holds *outside* its blocks' values
//! counts against it too, making the budget a bound on the field's resident memory (measured
//! as RSS by `tests/rss_bound.rs` and the 4 GiB benchmark), not only on its slots.
//!
//! The memory the field holds besides the values of its hot and warm blocks:
//! - **fixed**: the store's block map (its hash table's allocated buckets, as reserved when the
//!   budget is set), the bound on copies in flight to the background writer
//!   (`Field::set_write_behind_bytes`), the batch path's read buffers ([`GATHER_CHUNK`]
//!   blocks, their ids and the store's io_uring buffers, counted twice), one load's buffer
//!   and one slot's read buffer, the background reader's buffers for its pending reads
//!   (`Field::set_read_ahead`), and the unused rest of the last 2 MiB hot region (hot frames
//!   come in whole regions);
//! - **per slot**: each hot or warm slot's record (its block, count, frame or f16 box, its
//!   bitmap of used entries) and its entries in the tiers' hash tables (index and pins),
//!   counted at twice their buckets' size because a table that grows doubles.
//!
//! [`plan`] subtracts the fixed part from the budget's total, then gives the rest to hot and
//! warm in the budget's proportion, each slot costing its values plus its own overhead. What
//! remains outside is the process's own (allocator arenas and their slack, the writer's
//! stack, page tables): the constant the docs state beside the measured RSS. The block map's
//! growth after the budget was set (new blocks written) is inside since session 12: the field
//! reserves the map ahead and plans again when it must grow (`field::budget`).
//!
//! [`GATHER_CHUNK`]: crate::GATHER_CHUNK

use sacs::large_pages::LARGE_PAGE;

use crate::error::{Error, Result};
use crate::tiers::Budget;

/// Bytes of one entry of a `HashMap<u64, V>` bucket array with `value` bytes of value: the key,
/// the value and one control byte.
fn bucket_bytes(value: usize) -> usize {
    8 + value + 1
}

/// What [`plan`] needs to know about the field.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Bytes of one block's f32 values.
    pub block_bytes: usize,
    /// Entries per block (one bit each in a slot's bitmap of used entries).
    pub entries_per_block: usize,
    /// Bytes of one slot of the file (a read buffer).
    pub slot_bytes: usize,
    /// Bytes of the store's block map now.
    pub map_bytes: usize,
    /// The bound on bytes in flight to the background writer.
    pub write_behind_bytes: usize,
    /// Blocks the batch path reads at once.
    pub gather_chunk: usize,
    /// Block reads the background reader may have pending at once (their buffers).
    pub read_ahead_blocks: usize,
}

/// How a budget was cut: the tiers' share, and what was set aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetPlan {
    /// The budget's total (hot + warm bytes).
    pub total_bytes: usize,
    /// Set aside for the fixed overheads.
    pub fixed_bytes: usize,
    /// Of those, the store's block map (reserved ahead since session 12: the map holds that
    /// many bytes at most until the budget is set again).
    pub map_bytes: usize,
    /// Hot slots' overhead besides their values, per slot.
    pub per_hot_slot: usize,
    /// Warm slots' overhead besides their values, per slot.
    pub per_warm_slot: usize,
    /// The budget handed to the tiers (values only).
    pub tiers: Budget,
}

impl BudgetPlan {
    /// The bytes this plan accounts for at full tiers: fixed part, values and slot overheads.
    pub fn accounted_bytes(&self, hot_slots: usize, warm_slots: usize) -> usize {
        self.fixed_bytes
            + hot_slots * self.per_hot_slot
            + warm_slots * self.per_warm_slot
            + self.tiers.hot_bytes.min(usize::MAX / 2)
            + self.tiers.warm_bytes
    }
}

/// Cuts `budget` (not [`Budget::UNLIMITED`]) so that the tiers' values, their slots'
/// overhead and the fixed overheads fit in `hot_bytes + warm_bytes`. Fails if the fixed part
/// and one hot block do not fit.
pub fn plan(budget: Budget, sizes: Sizes) -> Result<BudgetPlan> {
    let total = budget.hot_bytes.saturating_add(budget.warm_bytes);
    let bitmap = sizes.entries_per_block.div_ceil(64) * 8;
    // Hot: the slot record (block, frame, dirty, count, bitmap box: 32 bytes) at twice its
    // size (the vector of slots doubles as it grows), its bitmap and that allocation's
    // header; an index entry (block -> place, 16 bytes) and a pin entry, each at twice its
    // bucket.
    let per_hot_slot = 64 + bitmap + 16 + 2 * bucket_bytes(16) + 2 * bucket_bytes(0);
    // Warm: the slot record (block, f16 box, count, bitmap box: 48 bytes) at twice its size,
    // the bitmap, two allocation headers, and an index and a pin entry.
    let per_warm_slot = 96 + bitmap + 32 + 2 * bucket_bytes(16) + 2 * bucket_bytes(0);
    // The background reader's pending reads: a buffer each (with its allocation header), its
    // record (block, buffer, flag: 40 bytes) and a pending-map entry at twice its bucket.
    let reads = sizes.read_ahead_blocks * (sizes.block_bytes + 16 + 40 + 2 * bucket_bytes(8));
    let io = 2 * sizes.gather_chunk * (sizes.block_bytes + 8)
        + sizes.block_bytes
        + sizes.slot_bytes
        + reads;
    let fixed = sizes.map_bytes + sizes.write_behind_bytes + io + LARGE_PAGE;
    let hot_cost = sizes.block_bytes + per_hot_slot;
    if total < fixed + hot_cost {
        return Err(Error::BudgetTooSmall {
            budget: total,
            needed: fixed + hot_cost,
        });
    }
    let rest = total - fixed;
    // The budget's proportion of hot to warm, applied to what is left.
    let hot_share = rest as u128 * budget.hot_bytes as u128 / total as u128;
    let hot_slots = (hot_share as usize / hot_cost).max(1);
    let warm_rest = rest - hot_slots * hot_cost;
    let warm_slots = if budget.warm_bytes == 0 {
        0
    } else {
        warm_rest / (sizes.block_bytes / 2 + per_warm_slot)
    };
    Ok(BudgetPlan {
        total_bytes: total,
        fixed_bytes: fixed,
        map_bytes: sizes.map_bytes,
        per_hot_slot,
        per_warm_slot,
        tiers: Budget {
            hot_bytes: hot_slots * sizes.block_bytes,
            warm_bytes: warm_slots * sizes.block_bytes / 2,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> Sizes {
        Sizes {
            block_bytes: 16 << 10,
            entries_per_block: 1024,
            slot_bytes: (16 << 10) + 512,
            map_bytes: 22 << 20,
            write_behind_bytes: 16 << 20,
            gather_chunk: 64,
            read_ahead_blocks: 256,
        }
    }

    #[test]
    fn the_plan_fits_the_budget_and_keeps_its_proportion() {
        let budget = Budget {
            hot_bytes: 768 << 20,
            warm_bytes: 256 << 20,
        };
        let p = plan(budget, sizes()).unwrap();
        let hot_slots = p.tiers.hot_bytes / (16 << 10);
        let warm_slots = p.tiers.warm_bytes / (8 << 10);
        let accounted = p.accounted_bytes(hot_slots, warm_slots);
        assert!(accounted <= 1 << 30, "{accounted} {p:?}");
        // Nothing much is wasted: the rest is under one slot of each tier.
        assert!((1 << 30) - accounted < 2 * (16 << 10), "{p:?}");
        // Hot keeps about 3/4 of what is left.
        let hot = hot_slots * ((16 << 10) + p.per_hot_slot);
        let share = hot as f64 / ((1u64 << 30) as usize - p.fixed_bytes) as f64;
        assert!((share - 0.75).abs() < 0.001, "{share}");
        assert!(p.fixed_bytes >= (22 << 20) + (16 << 20) + (4 << 20) + LARGE_PAGE);
    }

    #[test]
    fn a_budget_below_the_fixed_part_is_refused() {
        let budget = Budget {
            hot_bytes: 30 << 20,
            warm_bytes: 0,
        };
        assert!(matches!(
            plan(budget, sizes()),
            Err(Error::BudgetTooSmall { .. })
        ));
        let no_warm = plan(
            Budget {
                hot_bytes: 64 << 20,
                warm_bytes: 0,
            },
            sizes(),
        )
        .unwrap();
        assert_eq!(no_warm.tiers.warm_bytes, 0);
        assert!(no_warm.tiers.hot_bytes > 0);
    }
}
