//! The resident budget (`Field::set_resident_budget`) bounds the process's resident memory as
//! the operating system counts it: training with evictions (dirty blocks handed to the
//! background writer), single queries, batches and a flush on a 32 MiB field under a 4 MiB
//! budget raise the peak RSS (VmHWM, reset before the field is created) over the RSS before
//! it by at most the budget plus [`CONSTANT`]. This file holds one test, so that no other
//! test's memory moves the measurement.

use field::{Budget, Field, Layout};

const MIB: usize = 1 << 20;

/// What the field does not count: the writer thread's stack and the allocator's arena for it
/// (since session 24 the thread allocates nothing once running, so the arena holds only what
/// starting it took), the allocator's slack, the block map's growth after the budget was set
/// (the blocks written by training), the test's own vectors.
const CONSTANT: usize = 3 * MIB;

fn status_kib(key: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets VmHWM to the current RSS (`clear_refs` 5); false where that is refused.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[test]
fn the_resident_budget_bounds_peak_rss() {
    // 8 levels × 2^19 entries × 2 features × 4 bytes = 32 MiB in 8192 blocks of 4 KiB.
    let layout = Layout {
        dim: 3,
        levels: 8,
        log2_table: 19,
        features: 2,
        base_resolution: 64,
        finest_resolution: 2048,
        log2_block_bytes: 12,
        init_scale: 0.1,
        seed: 6,
        ..Layout::default()
    };
    let budget = Budget {
        hot_bytes: 3 * MIB,
        warm_bytes: MIB,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(21);
    let points: Vec<f32> = (0..3 * 256).map(|_| rng.f32()).collect();
    let mut out = vec![0f32; 256 * 16];
    let grad = vec![0.01f32; 16];
    let peak_reset = reset_peak();
    let before = status_kib("VmRSS:") * 1024;

    let mut f = Field::create(dir.path().join("bound"), layout).unwrap();
    let plan = f.set_resident_budget(budget).unwrap();
    for _ in 0..200 {
        f.update(&[rng.f32(), rng.f32(), rng.f32()], &grad, 0.1)
            .unwrap();
    }
    for _ in 0..100 {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        f.query(&x, &mut out[..16]).unwrap();
    }
    f.query_batch(&points, &mut out).unwrap();
    f.flush().unwrap();
    let stats = f.stats();

    let peak = if peak_reset {
        status_kib("VmHWM:") * 1024
    } else {
        status_kib("VmRSS:") * 1024
    };
    let growth = peak.saturating_sub(before);
    eprintln!(
        "peak RSS grew {growth} bytes (peak reset: {peak_reset}) under a budget of {} + {CONSTANT}; {plan:?}; {stats:?}",
        4 * MIB
    );
    assert!(
        stats.loads > 4096,
        "blocks were evicted and loaded again: {stats:?}"
    );
    assert!(stats.write_backs > 1, "evictions wrote back: {stats:?}");
    assert!(
        stats.hot_region_bytes + stats.warm_bytes <= 4 * MIB,
        "{stats:?}"
    );
    assert!(
        growth <= 4 * MIB + CONSTANT,
        "peak RSS grew {growth} bytes, over the budget plus {CONSTANT}"
    );
}
