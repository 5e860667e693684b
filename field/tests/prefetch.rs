//! Prefetch: the evaluator's counts, the predictors on synthetic and recorded traces, and the
//! field's exact look-ahead (`Field::prefetch`, the gathering `Field::query_batch`). Small
//! fields and traces (well under a second each in debug).

use field::bench::{Points, Workload};
use field::prefetch::{
    demand_misses, evaluate, Leap, Learned, LearnedConfig, LookAhead, Metrics, NextN, NoPrefetch,
    Policy, Prefetcher, Trace, Trajectory,
};
use field::{Budget, Field, Layout, DEFAULT_READ_AHEAD_BLOCKS};

/// 6 levels of 2^14 entries, 2 features, 4 KiB blocks: 32 blocks per level, 192 in all.
fn layout() -> Layout {
    Layout {
        dim: 3,
        levels: 6,
        log2_table: 14,
        features: 2,
        base_resolution: 8,
        finest_resolution: 256,
        log2_block_bytes: 12,
        init_scale: 0.1,
        seed: 5,
        ..Layout::default()
    }
}

fn check_consistent(m: &Metrics, trace: &Trace) {
    assert!(m.used <= m.prefetched, "{m:?}");
    assert!(m.misses <= m.accesses && m.accesses == trace.accesses.len() as u64);
    assert!(m.baseline_misses <= m.accesses);
    assert!((0.0..=1.0).contains(&m.accuracy()), "{m:?}");
    assert!(m.coverage() <= 1.0 && m.extra_io() >= 0.0, "{m:?}");
}

/// A strided stream: 8 interleaved walks of stride 3 over 10,000 blocks each, never revisited.
fn strided() -> Trace {
    let blocks: Vec<u64> = (0..3000u64)
        .flat_map(|i| (0..8u64).map(move |s| s * 10_000 + 3 * i))
        .collect();
    let mut trace = Trace::from_blocks(&blocks, 80_000);
    // One level per walk, as the field's stream has one per table.
    for (a, s) in trace.accesses.iter_mut().zip((0..8u8).cycle()) {
        a.level = s;
    }
    trace
}

#[test]
fn leap_follows_a_strided_stream_and_next_n_does_not() {
    let trace = strided();
    let baseline = demand_misses(&trace, 256, Policy::Lru);
    assert_eq!(baseline, trace.accesses.len() as u64, "every block is new");
    let leap = evaluate(&trace, 256, Policy::Lru, &mut Leap::new(32, 8), baseline);
    let next = evaluate(&trace, 256, Policy::Lru, &mut NextN::new(2), baseline);
    check_consistent(&leap, &trace);
    check_consistent(&next, &trace);
    assert!(
        leap.coverage() > 0.9 && leap.accuracy() > 0.9,
        "leap: {leap:?}"
    );
    assert!(
        next.coverage() < 0.01,
        "a stride of 3 escapes next-2: {next:?}"
    );
    assert!(next.extra_io() > 1.5, "{next:?}");
}

#[test]
fn the_evaluator_counts_are_consistent_and_no_prefetch_is_the_baseline() {
    let blocks: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 700 + (i % 3)).collect();
    let trace = Trace::from_blocks(&blocks, 703);
    for policy in [Policy::Lru, Policy::Clock] {
        let baseline = demand_misses(&trace, 100, policy);
        let none = evaluate(&trace, 100, policy, &mut NoPrefetch, baseline);
        assert_eq!(none.misses, baseline);
        assert_eq!((none.prefetched, none.used, none.coverage()), (0, 0, 0.0));
        let mut all: Vec<Box<dyn Prefetcher>> = vec![
            Box::new(NextN::new(4)),
            Box::new(Leap::new(32, 8)),
            Box::new(Learned::new(LearnedConfig::default())),
            Box::new(LookAhead::new(&trace, 2)),
        ];
        for p in &mut all {
            let m = evaluate(&trace, 100, policy, p.as_mut(), baseline);
            check_consistent(&m, &trace);
            // Every block read is a demand miss or a prefetch; each miss avoided needed a
            // prefetched block that was used.
            assert!(
                m.misses + m.used >= baseline || m.prefetched > m.used,
                "{m:?}"
            );
        }
    }
}

#[test]
fn the_learned_predictor_stays_quiet_on_uniform_points_and_learns_a_repeated_path() {
    let dir = tempfile::tempdir().unwrap();
    let field = Field::create(dir.path().join("f"), layout()).unwrap();
    let capacity = 48; // a quarter of the 192 blocks
    let xs = Points::new(Workload::Uniform, 3).take_flat(3000);
    let uniform = Trace::record(&field, &xs).unwrap();
    let baseline = demand_misses(&uniform, capacity, Policy::Clock);
    let mut learned = Learned::new(LearnedConfig::default());
    let m = evaluate(&uniform, capacity, Policy::Clock, &mut learned, baseline);
    check_consistent(&m, &uniform);
    assert!(baseline > 1000, "{baseline}");
    assert!(m.extra_io() <= 0.10, "uniform: {m:?}");

    // A random sequence of 500 blocks walked six times through a cache of 100: LRU misses
    // every access; the successor table learns the sequence in its first two laps.
    let mut rng = fastrand::Rng::with_seed(8);
    let lap: Vec<u64> = (0..500).map(|_| rng.u64(0..100_000)).collect();
    let blocks: Vec<u64> = (0..6).flat_map(|_| lap.iter().copied()).collect();
    let laps = Trace::from_blocks(&blocks, 100_000);
    let baseline = demand_misses(&laps, 100, Policy::Lru);
    assert_eq!(baseline, 3000);
    let mut learned = Learned::new(LearnedConfig::default());
    let m = evaluate(&laps, 100, Policy::Lru, &mut learned, baseline);
    check_consistent(&m, &laps);
    assert!(m.coverage() > 0.6 && m.accuracy() > 0.9, "laps: {m:?}");
}

#[test]
fn trajectory_and_look_ahead_cover_a_camera_path() {
    let dir = tempfile::tempdir().unwrap();
    let field = Field::create(dir.path().join("f"), layout()).unwrap();
    let xs = Points::new(Workload::Camera, 9).take_flat(4000);
    let trace = Trace::record(&field, &xs).unwrap();
    let capacity = 48;
    let baseline = demand_misses(&trace, capacity, Policy::Clock);
    assert!(baseline > 100, "{baseline}");
    let t = evaluate(
        &trace,
        capacity,
        Policy::Clock,
        &mut Trajectory::new(&field, &trace, 1, 0.5),
        baseline,
    );
    let exact = evaluate(
        &trace,
        capacity,
        Policy::Clock,
        &mut LookAhead::new(&trace, 1),
        baseline,
    );
    check_consistent(&t, &trace);
    check_consistent(&exact, &trace);
    assert!(
        t.coverage() > 0.8 && t.accuracy() > 0.9,
        "trajectory: {t:?}"
    );
    assert!(
        exact.coverage() > 0.95 && exact.accuracy() > 0.95,
        "{exact:?}"
    );
    // On uniform points the trajectory model's error never drops: it proposes nothing.
    let xs = Points::new(Workload::Uniform, 9).take_flat(2000);
    let uniform = Trace::record(&field, &xs).unwrap();
    let b = demand_misses(&uniform, capacity, Policy::Clock);
    let q = evaluate(
        &uniform,
        capacity,
        Policy::Clock,
        &mut Trajectory::new(&field, &uniform, 1, 0.5),
        b,
    );
    assert_eq!(q.prefetched, 0, "{q:?}");
}

fn queries(f: &mut Field, xs: &[f32]) -> Vec<f32> {
    let width = f.output_len();
    let mut out = vec![0f32; xs.len() / 3 * width];
    for (x, o) in xs.chunks(3).zip(out.chunks_mut(width)) {
        f.query(x, o).unwrap();
    }
    out
}

/// Runs `test` on a field with the background reader (the default) and on one without it
/// (`set_read_ahead(0)`: prefetch reads on the caller's thread).
fn with_and_without_reader(test: impl Fn(Field)) {
    for read_ahead in [DEFAULT_READ_AHEAD_BLOCKS, 0] {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Field::create(dir.path().join("f"), layout()).unwrap();
        f.set_read_ahead(read_ahead).unwrap();
        test(f);
    }
}

#[test]
fn prefetch_loads_exactly_what_the_next_queries_need() {
    with_and_without_reader(prefetch_loads_exactly);
}

fn prefetch_loads_exactly(mut f: Field) {
    f.set_budget(Budget {
        hot_bytes: 96 * 4096,
        warm_bytes: 0,
    })
    .unwrap();
    let xs = Points::new(Workload::Camera, 2).take_flat(50);
    let mut blocks = Vec::new();
    for x in xs.chunks(3) {
        f.blocks_of(x, &mut blocks).unwrap();
    }
    let mut distinct: Vec<u64> = blocks.iter().map(|&(_, b)| b).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() < 96);
    let loaded = f.prefetch(&xs).unwrap();
    assert_eq!(loaded, distinct.len());
    f.wait_for_reads().unwrap();
    assert_eq!(f.resident_blocks(), distinct);
    let before = f.stats();
    assert_eq!(
        (before.loads, before.gathered),
        (loaded as u64, loaded as u64)
    );
    queries(&mut f, &xs);
    assert_eq!(f.stats().loads, before.loads, "every block was there");
    assert_eq!(f.prefetch(&xs).unwrap(), 0, "nothing left to load");
    assert!(f.prefetch(&[0.5; 4]).is_err());
}

#[test]
fn a_gathering_batch_answers_like_single_queries_under_a_tight_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut free = Field::create(dir.path().join("free"), layout()).unwrap();
    let mut tight = Field::create(dir.path().join("tight"), layout()).unwrap();
    // 24 hot and 16 warm blocks: a batch of 64 uniform points needs more than fit.
    tight
        .set_budget(Budget {
            hot_bytes: 24 * 4096,
            warm_bytes: 16 * 2048,
        })
        .unwrap();
    let width = free.output_len();
    for (round, workload) in [Workload::Uniform, Workload::Camera, Workload::Zipf]
        .into_iter()
        .enumerate()
    {
        let xs = Points::new(workload, round as u64).take_flat(64);
        let expected = queries(&mut free, &xs);
        let mut out = vec![0f32; 64 * width];
        tight.query_batch(&xs, &mut out).unwrap();
        for (a, b) in expected.iter().zip(&out) {
            // Warm blocks answer in f16: 2^-11 relative per feature (features are within
            // ±0.1, so 5e-5 absolute at most).
            assert!((a - b).abs() <= 1e-4 + 1e-3 * a.abs(), "{a} vs {b}");
        }
        let s = tight.stats();
        assert!(s.hot_blocks <= 24 && s.warm_blocks <= 16, "{s:?}");
        assert!(s.gathered > 0, "{s:?}");
    }
}

#[test]
fn prefetch_beyond_the_budget_loads_what_fits_and_evicts_none_of_it() {
    with_and_without_reader(prefetch_beyond_the_budget);
}

fn prefetch_beyond_the_budget(mut f: Field) {
    // 8 hot and 8 warm blocks of 192; 6 uniform points need more than 16.
    f.set_budget(Budget {
        hot_bytes: 8 * 4096,
        warm_bytes: 8 * 2048,
    })
    .unwrap();
    let xs = Points::new(Workload::Uniform, 6).take_flat(6);
    let mut touched = Vec::new();
    for x in xs.chunks(3) {
        f.blocks_of(x, &mut touched).unwrap();
    }
    let mut needed: Vec<u64> = touched.iter().map(|&(_, b)| b).collect();
    needed.sort_unstable();
    needed.dedup();
    assert!(needed.len() > 16, "{}", needed.len());
    let needed_resident = |f: &Field| {
        f.resident_blocks()
            .iter()
            .filter(|b| needed.binary_search(b).is_ok())
            .count()
    };

    // Empty tiers: every slot is taken, by the lowest ids (file order).
    assert_eq!(f.prefetch(&xs).unwrap(), 16);
    f.wait_for_reads().unwrap();
    assert_eq!(f.resident_blocks(), needed[..16]);

    // Full tiers holding other blocks: the loads go to warm, whose unpinned slots they take;
    // a block loaded (count 0, the CLOCK's first choice) is never the victim of the next.
    queries(&mut f, &Points::new(Workload::Zipf, 7).take_flat(30));
    let (resident_before, gathered_before) = (needed_resident(&f), f.stats().gathered);
    let loaded = f.prefetch(&xs).unwrap();
    assert!(loaded > 0 && loaded <= 8, "{loaded}");
    f.wait_for_reads().unwrap();
    assert_eq!(f.stats().gathered, gathered_before + loaded as u64);
    assert_eq!(
        needed_resident(&f),
        resident_before + loaded,
        "a needed block was evicted while prefetching"
    );
}
