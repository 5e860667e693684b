//! The budget bounds resident memory as the operating system counts it (VmRSS), not only as
//! the tiers count slots: queries that touch a field several times larger than its budget
//! grow the process's RSS by no more than the budget plus a small constant, while the same
//! queries on an unbudgeted field grow it by about the field's size. This file holds one test,
//! so no other test's memory moves the measurement. (Where transparent huge pages are set to
//! `always`, the heap may grow in 2 MiB steps; the slack allowed covers one.)

use field::{Budget, Field, Layout};

const MIB: usize = 1 << 20;

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// RSS growth from before a field of 16 MiB is created under `budget` to after 400 random
/// queries on it (which touch nearly every block).
fn rss_growth(dir: &std::path::Path, name: &str, budget: Budget) -> (usize, field::Stats) {
    // 8 levels × 2^18 entries × 2 features × 4 bytes = 16 MiB in 4096 blocks of 4 KiB.
    let layout = Layout {
        dim: 3,
        levels: 8,
        log2_table: 18,
        features: 2,
        base_resolution: 64,
        finest_resolution: 1024,
        log2_block_bytes: 12,
        init_scale: 0.1,
        seed: 4,
        ..Layout::default()
    };
    let before = rss_bytes();
    let mut f = Field::create(dir.join(name), layout).unwrap();
    f.set_budget(budget).unwrap();
    let mut out = vec![0f32; f.output_len()];
    let mut rng = fastrand::Rng::with_seed(9);
    for _ in 0..400 {
        f.query(&[rng.f32(), rng.f32(), rng.f32()], &mut out)
            .unwrap();
    }
    let growth = rss_bytes().saturating_sub(before);
    (growth, f.stats())
}

#[test]
fn the_budget_bounds_resident_memory() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Budget {
        hot_bytes: MIB,
        warm_bytes: MIB,
    };
    let (bounded, stats) = rss_growth(dir.path(), "bounded", budget);
    eprintln!("budget 1 MiB hot + 1 MiB warm: RSS grew {bounded} bytes; {stats:?}");
    assert!(
        stats.loads > 4096,
        "blocks were evicted and loaded again: {stats:?}"
    );
    // Hot regions come whole (2 MiB), warm values are 1 MiB; 2 MiB more covers the indexes,
    // the allocator's own pages and the test's.
    assert!(
        bounded <= 2 * MIB + MIB + 2 * MIB,
        "RSS grew {bounded} bytes under the budget"
    );

    // The first field's hot region, back in SACS's whale ring, may be reused here.
    let (unbounded, stats) = rss_growth(dir.path(), "unbounded", Budget::UNLIMITED);
    eprintln!("no budget: RSS grew {unbounded} bytes; {stats:?}");
    assert!(
        unbounded >= 12 * MIB,
        "without a budget the same queries keep ~16 MiB: {unbounded}"
    );
}
