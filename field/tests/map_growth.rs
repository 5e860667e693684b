//! The block map's growth under a resident budget (session 12): blocks written for the first
//! time after `set_resident_budget` grow the store's block map; the field reserves the map
//! ahead and sets the budget again when it must grow, so the plan's accounting — the map as
//! allocated, the fixed part, the tiers' values and slots — stays within the budget while
//! thousands of new blocks are written, and the peak RSS within the budget plus
//! [`CONSTANT`] (as `tests/rss_bound.rs`). This file holds one test, so that no other test's
//! memory moves the measurement.

use field::{Budget, Field, Layout};

const MIB: usize = 1 << 20;

/// What the field does not count (as in `tests/rss_bound.rs`): the writer thread's stack and
/// its allocator arena, the allocators' slack (memory the tiers gave up at a re-plan and the
/// allocators have not returned), the test's own vectors.
const CONSTANT: usize = 3 * MIB;

fn status_kib(key: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A block's values as this test writes them.
fn values(block: u64, floats: usize) -> Vec<f32> {
    (0..floats)
        .map(|i| (block as f32) * 1e-4 + (i as f32) * 1e-6)
        .collect()
}

#[test]
fn new_blocks_written_under_a_resident_budget_stay_within_it() {
    // 8 levels × 2^20 entries × 2 features × 4 bytes = 64 MiB in 16,384 blocks of 4 KiB: the
    // map for all of them (about 1.3 MiB) is more than a 4 MiB budget's MAP_SHARE, so the map
    // is reserved in steps.
    let layout = Layout {
        dim: 3,
        levels: 8,
        log2_table: 20,
        features: 2,
        base_resolution: 64,
        finest_resolution: 2048,
        log2_block_bytes: 12,
        init_scale: 0.1,
        seed: 8,
        ..Layout::default()
    };
    let budget = Budget {
        hot_bytes: 3 * MIB,
        warm_bytes: MIB,
    };
    let total = 4 * MIB;
    let dir = tempfile::tempdir().unwrap();
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kib("VmRSS:") * 1024;

    let mut f = Field::create(dir.path().join("grow"), layout).unwrap();
    let floats = f.blocking().floats_per_block();
    // More in flight than the 64 KiB a 4 MiB budget chooses: fewer waits for the writer's
    // syncs (the test's time), counted by the plan all the same.
    f.set_write_behind_bytes(256 << 10);
    f.set_resident_budget(budget).unwrap();
    let first = f.resident_plan().unwrap();
    let written: u64 = 9_000;
    let mut plans = vec![first.map_bytes];
    let mut worst_map = 0usize;
    for block in 0..written {
        f.write_block(block, &values(block, floats)).unwrap();
        if block % 500 == 499 {
            // Let the writer commit what it was handed: the map is then as big as these
            // blocks make it.
            f.wait_for_write_backs().unwrap();
            let plan = f.resident_plan().unwrap();
            let stats = f.stats();
            if plans.last() != Some(&plan.map_bytes) {
                plans.push(plan.map_bytes);
            }
            worst_map = worst_map.max(stats.map_bytes);
            assert!(
                stats.map_bytes <= plan.map_bytes,
                "after {} new blocks the map takes {} bytes, the plan set aside {}: {plan:?}",
                block + 1,
                stats.map_bytes,
                plan.map_bytes
            );
            let hot_slots = plan.tiers.hot_bytes / (floats * 4);
            let warm_slots = plan.tiers.warm_bytes / (floats * 2);
            assert!(
                plan.accounted_bytes(hot_slots, warm_slots) <= total,
                "{plan:?}"
            );
            assert!(
                stats.hot_region_bytes + stats.warm_bytes + stats.map_bytes <= total,
                "{stats:?}"
            );
        }
    }
    f.flush().unwrap();
    let stats = f.stats();
    assert_eq!(stats.stored_blocks as u64, written);
    assert!(
        plans.len() >= 2,
        "the map was reserved again as it grew: {plans:?}"
    );
    // Nothing was lost across the re-plans.
    for block in (0..written).step_by(97) {
        assert_eq!(
            f.block_values(block).unwrap(),
            values(block, floats),
            "{block}"
        );
    }
    let peak = if peak_reset {
        status_kib("VmHWM:") * 1024
    } else {
        status_kib("VmRSS:") * 1024
    };
    let growth = peak.saturating_sub(before);
    eprintln!(
        "{written} new blocks; the plan's map share went {plans:?} (map at most {worst_map} \
         bytes); peak RSS grew {growth} bytes (peak reset: {peak_reset}) under a budget of \
         {total} + {CONSTANT}; first plan {first:?}; last {:?}; {stats:?}",
        f.resident_plan()
    );
    assert!(
        growth <= total + CONSTANT,
        "peak RSS grew {growth} bytes, over the budget plus {CONSTANT}"
    );
}
