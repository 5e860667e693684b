//! The field's behaviour through its public API: interpolation, learning, persistence, the
//! two kernels, tiles and argument checks. Small fields (a few MiB at most).

use field::{Error, Field, Kernel, Layout};

fn small(dim: u8, levels: u8) -> Layout {
    Layout {
        dim,
        levels,
        log2_table: 14,
        features: 4,
        base_resolution: 16,
        finest_resolution: if levels == 1 { 16 } else { 512 },
        log2_block_bytes: 12,
        init_scale: 0.5,
        seed: 7,
        ..Layout::default()
    }
}

fn query(f: &mut Field, x: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; f.output_len()];
    f.query(x, &mut out).unwrap();
    out
}

#[test]
fn a_query_at_a_vertex_returns_that_vertex_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Field::create(dir.path().join("f"), small(3, 1)).unwrap();
    let blocking = *f.blocking();
    // Resolution 16, dense: vertex (3, 5, 9) is entry 3 + 5·17 + 9·17².
    let entry = 3 + 5 * 17 + 9 * 17 * 17;
    let out = query(&mut f, &[3.0 / 16.0, 5.0 / 16.0, 9.0 / 16.0]);
    let (block, at) = blocking.locate(blocking.table_base(0, 0), entry);
    let values = f.block_values(block).unwrap();
    assert_eq!(out, values[at..at + 4]);
    assert!(
        out.iter().any(|&v| v != 0.0),
        "initial values are not all zero"
    );
}

#[test]
fn interpolation_is_linear_along_a_cell_edge() {
    let dir = tempfile::tempdir().unwrap();
    for dim in [2u8, 3] {
        let mut f = Field::create(dir.path().join(format!("f{dim}")), small(dim, 1)).unwrap();
        let at = |t: f32| {
            let mut x = vec![5.0 / 16.0; dim as usize];
            x[1] = (7.0 + t) / 16.0;
            x
        };
        let a = query(&mut f, &at(0.0));
        let b = query(&mut f, &at(1.0));
        for t in [0.25f32, 0.5, 0.9] {
            let mid = query(&mut f, &at(t));
            for k in 0..4 {
                let expect = (1.0 - t) * a[k] + t * b[k];
                assert!(
                    (mid[k] - expect).abs() < 1e-5,
                    "dim {dim} t {t}: {mid:?} vs {a:?} {b:?}"
                );
            }
        }
    }
}

/// Fits the field to targets at a few points with SGD on the squared error; returns the
/// errors before and after.
fn fit(f: &mut Field, points: &[Vec<f32>], steps: usize) -> (f32, f32) {
    let width = f.output_len();
    let target = |i: usize, k: usize| ((i * 7 + k) % 5) as f32 * 0.1 - 0.2;
    let error = |f: &mut Field| -> f32 {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                query(f, p)
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (v - target(i, k)).powi(2))
                    .sum::<f32>()
            })
            .sum()
    };
    let before = error(f);
    for _ in 0..steps {
        for (i, p) in points.iter().enumerate() {
            let out = query(f, p);
            let grad: Vec<f32> = (0..width).map(|k| 2.0 * (out[k] - target(i, k))).collect();
            f.update(p, &grad, 0.5).unwrap();
        }
    }
    (before, error(f))
}

#[test]
fn updates_fit_targets_and_persist_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut f = Field::create(&path, small(3, 4)).unwrap();
    let points: Vec<Vec<f32>> = (0..6)
        .map(|i| vec![0.1 + 0.13 * i as f32, 0.5, 0.9 - 0.1 * i as f32])
        .collect();
    let (before, after) = fit(&mut f, &points, 30);
    assert!(after < before / 100.0, "error {before} → {after}");
    let answers: Vec<Vec<f32>> = points.iter().map(|p| query(&mut f, p)).collect();
    let stored_before_drop = f.stats().dirty_blocks;
    assert!(
        stored_before_drop > 0,
        "updates leave dirty blocks until a write-back"
    );
    drop(f); // writes back
    let mut f = Field::open(&path).unwrap();
    assert!(f.stats().stored_blocks > 0);
    for (p, a) in points.iter().zip(&answers) {
        assert_eq!(&query(&mut f, p), a, "a reopened field answers as before");
    }
}

#[test]
fn scalar_and_vector_kernels_give_the_same_results() {
    let Some(vector) = Kernel::avx2_fma() else {
        eprintln!("no AVX2+FMA here: nothing to compare");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for dim in [2u8, 3] {
        let mut a = Field::create(dir.path().join(format!("a{dim}")), small(dim, 6)).unwrap();
        let mut b = Field::create(dir.path().join(format!("b{dim}")), small(dim, 6)).unwrap();
        a.set_kernel(Kernel::scalar());
        b.set_kernel(vector);
        let mut rng = fastrand::Rng::with_seed(3);
        let points: Vec<Vec<f32>> = (0..64)
            .map(|_| (0..dim).map(|_| rng.f32()).collect())
            .collect();
        let grad: Vec<f32> = (0..a.output_len())
            .map(|k| (k as f32 - 10.0) * 0.01)
            .collect();
        for p in &points[..16] {
            a.update(p, &grad, 0.3).unwrap();
            b.update(p, &grad, 0.3).unwrap();
        }
        let (mut oa, mut ob) = (
            vec![0f32; 64 * a.output_len()],
            vec![0f32; 64 * b.output_len()],
        );
        let flat: Vec<f32> = points.concat();
        a.query_batch(&flat, &mut oa).unwrap();
        b.query_batch(&flat, &mut ob).unwrap();
        for (x, y) in oa.iter().zip(&ob) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + x.abs()),
                "dim {dim}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn query_batch_equals_single_queries() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Field::create(dir.path().join("f"), small(2, 3)).unwrap();
    let xs = [0.1f32, 0.2, 0.9, 0.4, 1.0, 0.0];
    let mut batch = vec![0f32; 3 * f.output_len()];
    f.query_batch(&xs, &mut batch).unwrap();
    for (i, x) in xs.chunks(2).enumerate() {
        assert_eq!(
            query(&mut f, x),
            batch[i * f.output_len()..(i + 1) * f.output_len()]
        );
    }
}

/// Session 12: `query_batch` answers 8 points at a time (their corners computed together,
/// one point per lane with AVX2). Its results equal single queries with the same kernel, and
/// single scalar queries within float rounding; several tiles, 2-D and 3-D, a count of points
/// that is not a multiple of 8, the faces of the cube included.
#[test]
fn batches_of_eight_equal_single_queries_and_the_scalar_kernel() {
    let dir = tempfile::tempdir().unwrap();
    for dim in [2u8, 3] {
        let layout = Layout {
            tiles_per_axis: 2,
            ..small(dim, 6)
        };
        let mut f = Field::create(dir.path().join(format!("t{dim}")), layout).unwrap();
        let mut rng = fastrand::Rng::with_seed(31);
        let n = 203;
        let mut xs: Vec<f32> = (0..n * dim as usize).map(|_| rng.f32()).collect();
        xs[..dim as usize].fill(1.0);
        xs[dim as usize..2 * dim as usize].fill(0.0);
        xs[2 * dim as usize] = 0.5; // the face between two tiles
        let width = f.output_len();
        let mut batch = vec![0f32; n * width];
        f.query_batch(&xs, &mut batch).unwrap();
        for (i, x) in xs.chunks(dim as usize).enumerate() {
            let got = &batch[i * width..(i + 1) * width];
            assert_eq!(
                query(&mut f, x),
                got,
                "point {i} {x:?}, {}",
                f.kernel().name()
            );
            f.set_kernel(Kernel::scalar());
            for (a, b) in query(&mut f, x).iter().zip(got) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{i}: {a} vs {b}");
            }
            f.set_kernel(Kernel::best());
        }
    }
}

#[test]
fn tiles_have_separate_tables() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout {
        tiles_per_axis: 4,
        ..small(2, 2)
    };
    let mut f = Field::create(dir.path().join("f"), layout).unwrap();
    // The same tile-local position in tiles (0, 0) and (1, 0).
    let (p, q) = ([0.1f32, 0.1], [0.35f32, 0.1]);
    let before_q = query(&mut f, &q);
    f.update(&p, &vec![1.0; f.output_len()], 1.0).unwrap();
    assert_eq!(
        query(&mut f, &q),
        before_q,
        "an update in one tile leaves another alone"
    );
    assert_ne!(query(&mut f, &p), before_q);
}

#[test]
fn wrong_lengths_and_non_finite_inputs_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Field::create(dir.path().join("f"), small(3, 2)).unwrap();
    let mut out = vec![0f32; f.output_len()];
    assert!(matches!(
        f.query(&[0.5, 0.5], &mut out),
        Err(Error::WrongLength { what: "x", .. })
    ));
    assert!(matches!(
        f.query(&[0.5; 3], &mut out[1..]),
        Err(Error::WrongLength { .. })
    ));
    assert!(matches!(
        f.update(&[0.5; 3], &[1.0], 0.1),
        Err(Error::WrongLength { .. })
    ));
    assert!(matches!(
        f.query_batch(&[0.5; 4], &mut out),
        Err(Error::WrongLength { .. })
    ));
    assert!(matches!(
        f.query(&[0.5, f32::NAN, 0.5], &mut out),
        Err(Error::NotFinite("x"))
    ));
    let mut grad = vec![0.0; f.output_len()];
    grad[3] = f32::INFINITY;
    assert!(matches!(
        f.update(&[0.5; 3], &grad, 0.1),
        Err(Error::NotFinite("grad"))
    ));
    assert_eq!(
        f.stats().dirty_blocks,
        0,
        "a refused update changes nothing"
    );
    let bad = Layout {
        features: 9,
        ..small(3, 2)
    };
    assert!(matches!(
        Field::create(dir.path().join("g"), bad),
        Err(Error::InvalidLayout(_))
    ));
}

#[test]
fn a_field_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Field>();
    let dir = tempfile::tempdir().unwrap();
    let mut f = Field::create(dir.path().join("f"), small(2, 2)).unwrap();
    let width = f.output_len();
    let out = std::thread::spawn(move || {
        let mut out = vec![0f32; width];
        f.query(&[0.3, 0.6], &mut out).unwrap();
        out
    })
    .join()
    .unwrap();
    assert_eq!(out.len(), width);
}
