//! Joint reads (session 21): a single query reads the blocks it misses together at its first
//! miss, then walks its levels as before, taking each missed block's values from that read.
//! The answers must be the same floats as with one read per miss (`set_joint_reads(false)`,
//! the code path of sessions 1 – 20), and the tiers must end in the same state with the same
//! statistics: on fields with blocks in every tier (hot, warm promoted and not, cold stored as
//! f32 or int8, never written), with the live predictor off and on.

use std::path::Path;

use field::{Budget, Encoding, Field, Hashing, Layout, Predictor, Stats};

fn layout(encoding: Encoding, hashing: Hashing) -> Layout {
    Layout {
        dim: 3,
        levels: 8,
        log2_table: 14,
        features: 4,
        base_resolution: 4,
        finest_resolution: 256,
        log2_block_bytes: 12, // 256 entries per block, 64 blocks per level: 512 blocks
        init_scale: 0.1,
        seed: 11,
        cold_encoding: encoding,
        hashing,
        ..Layout::default()
    }
}

/// A field file at `dir/joint` with two blocks in three stored (values the initialisation
/// would not give) and the rest never written, copied to `dir/serial`; returns both, reopened.
fn pair(dir: &Path, layout: Layout) -> (Field, Field) {
    let mut f = Field::create(dir.join("joint"), layout).unwrap();
    let blocks = f.blocking().block_count(&layout);
    for b in (0..blocks).filter(|b| b % 3 != 0) {
        let values: Vec<f32> = f
            .block_values(b)
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v * 2.5 + (i % 7) as f32 * 0.013 - 0.03)
            .collect();
        f.write_block(b, &values).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    std::fs::copy(dir.join("joint"), dir.join("serial")).unwrap();
    let joint = Field::open(dir.join("joint")).unwrap();
    let mut serial = Field::open(dir.join("serial")).unwrap();
    serial.set_joint_reads(false);
    (joint, serial)
}

/// Skewed points: most from a small set (so blocks are touched again: promotions, warm reads),
/// the rest anywhere (misses of many blocks at once).
fn skewed(n: usize, seed: u64) -> Vec<[f32; 3]> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let hot: Vec<[f32; 3]> = (0..40).map(|_| [rng.f32(), rng.f32(), rng.f32()]).collect();
    (0..n)
        .map(|_| {
            if rng.f32() < 0.7 {
                // Squared: the first points of the set come far more often.
                let r = rng.f32();
                hot[(r * r * hot.len() as f32) as usize]
            } else {
                [rng.f32(), rng.f32(), rng.f32()]
            }
        })
        .collect()
}

/// A smooth path (the live predictor predicts along it).
fn path(n: usize, seed: u64) -> Vec<[f32; 3]> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut p = [0.2f32, 0.3, 0.4];
    let mut d = [0.006f32, 0.004, -0.003];
    (0..n)
        .map(|_| {
            for k in 0..3 {
                d[k] += (rng.f32() - 0.5) * 0.0005;
                p[k] += d[k];
                if !(0.0..=1.0).contains(&p[k]) {
                    d[k] = -d[k];
                    p[k] = p[k].clamp(0.0, 1.0);
                }
            }
            p
        })
        .collect()
}

/// Queries `points` on both fields; asserts the outputs are the same bits, point by point.
fn same_answers(joint: &mut Field, serial: &mut Field, points: &[[f32; 3]]) {
    let width = joint.output_len();
    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    for (i, x) in points.iter().enumerate() {
        joint.query(x, &mut a).unwrap();
        serial.query(x, &mut b).unwrap();
        let (a_bits, b_bits): (Vec<u32>, Vec<u32>) = (
            a.iter().map(|v| v.to_bits()).collect(),
            b.iter().map(|v| v.to_bits()).collect(),
        );
        assert_eq!(a_bits, b_bits, "point {i} at {x:?}");
    }
}

/// The statistics that must agree (everything but the joint reads and the times).
fn counts(s: &Stats) -> [u64; 11] {
    [
        s.hot_blocks as u64,
        s.warm_blocks as u64,
        s.loads,
        s.warm_reads,
        s.tail.loads,
        s.tail.misses,
        s.tail.promotions,
        s.tail.evictions,
        s.residencies,
        s.entries_used,
        s.predictions,
    ]
}

fn assert_same_state(joint: &Field, serial: &Field) {
    let (j, s) = (joint.stats(), serial.stats());
    assert_eq!(counts(&j), counts(&s));
    assert_eq!(joint.resident_blocks(), serial.resident_blocks());
    assert_eq!(
        s.tail.joint_reads, 0,
        "the serial field reads one block at a time"
    );
    assert!(
        j.tail.joint_reads > 0,
        "the queries missed several blocks at once"
    );
    assert!(j.tail.joint_blocks >= 2 * j.tail.joint_reads);
    assert!(j.tail.joint_blocks <= j.tail.loads);
}

/// Budgets, in 4 KiB blocks: hot slots and warm slots.
const BUDGETS: [(usize, usize); 3] = [(12, 24), (40, 120), (600, 0)];

fn budget((hot, warm): (usize, usize)) -> Budget {
    Budget {
        hot_bytes: hot * 4096,
        warm_bytes: warm * 2048,
    }
}

#[test]
fn joint_reads_answer_as_reads_one_at_a_time() {
    for encoding in [Encoding::F32, Encoding::Int8] {
        for hashing in [Hashing::Local, Hashing::Spatial] {
            for slots in BUDGETS {
                let dir = tempfile::tempdir().unwrap();
                let (mut joint, mut serial) = pair(dir.path(), layout(encoding, hashing));
                for f in [&mut joint, &mut serial] {
                    f.set_budget(budget(slots)).unwrap();
                }
                same_answers(&mut joint, &mut serial, &skewed(1500, 5));
                assert_same_state(&joint, &serial);
                let s = joint.stats();
                if slots.1 > 0 {
                    // Every tier took part: warm reads, promotions from warm, evictions.
                    assert!(s.warm_reads > 0 && s.tail.promotions > 0 && s.tail.evictions > 0);
                    assert!(s.warm_blocks > 0 && s.hot_blocks == slots.0);
                }
            }
        }
    }
}

#[test]
fn joint_reads_answer_as_reads_one_at_a_time_with_the_predictor() {
    let predictor = Predictor {
        horizon: 4,
        max_error: 0.5,
    };
    for encoding in [Encoding::F32, Encoding::Int8] {
        for slots in BUDGETS {
            // Without the background reader the predictor's prefetches load on the caller's
            // thread, so both fields see the same sequence of events.
            let dir = tempfile::tempdir().unwrap();
            let (mut joint, mut serial) = pair(dir.path(), layout(encoding, Hashing::Local));
            for f in [&mut joint, &mut serial] {
                f.set_read_ahead(0).unwrap();
                f.set_budget(budget(slots)).unwrap();
                f.set_predictor(Some(predictor));
            }
            let points: Vec<[f32; 3]> = path(800, 9).into_iter().chain(skewed(400, 6)).collect();
            same_answers(&mut joint, &mut serial, &points);
            assert_same_state(&joint, &serial);
            let s = joint.stats();
            assert!(s.predictions > 0 && s.gathered > 0);
        }
    }
    // With the background reader, when its reads complete depends on timing, and so does the
    // tier a block enters; with hot slots only, every row is exact whatever the timing.
    let dir = tempfile::tempdir().unwrap();
    let (mut joint, mut serial) = pair(dir.path(), layout(Encoding::Int8, Hashing::Local));
    for f in [&mut joint, &mut serial] {
        f.set_budget(budget((48, 0))).unwrap();
        f.set_predictor(Some(predictor));
    }
    let points: Vec<[f32; 3]> = path(800, 9).into_iter().chain(skewed(400, 6)).collect();
    same_answers(&mut joint, &mut serial, &points);
    assert!(joint.stats().predictions > 0 && joint.stats().tail.joint_reads > 0);
}

/// An unbudgeted field (every block hot): the same answers, and a query missing several blocks
/// reads them in one joint read.
#[test]
fn an_unbudgeted_field_reads_a_query_s_blocks_in_one_joint_read() {
    let dir = tempfile::tempdir().unwrap();
    let (mut joint, mut serial) = pair(dir.path(), layout(Encoding::F32, Hashing::Local));
    let x = [0.37f32, 0.61, 0.12];
    let mut touched = Vec::new();
    joint.blocks_of(&x, &mut touched).unwrap();
    let mut distinct: Vec<u64> = touched.iter().map(|&(_, b)| b).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 2);
    same_answers(&mut joint, &mut serial, &[x]);
    let s = joint.stats();
    assert_eq!(s.tail.joint_reads, 1);
    assert_eq!(s.tail.joint_blocks, distinct.len() as u64);
    assert_eq!(s.tail.loads, distinct.len() as u64);
    assert_eq!(serial.stats().tail.loads, distinct.len() as u64);
    // Again: every block is resident, nothing is read.
    same_answers(&mut joint, &mut serial, &[x]);
    assert_eq!(joint.stats().tail.joint_reads, 1);
    assert_same_state(&joint, &serial);
    same_answers(&mut joint, &mut serial, &skewed(300, 8));
    assert_same_state(&joint, &serial);
}
