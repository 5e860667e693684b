//! What the layouts and tiers cost in quality, and what the local hashing buys in locality: the
//! measurements behind the `field-quality` binary, as a library so that a test can run them
//! small.
//!
//! - [`locality`]: block utilisation and loads per query of one workload (`bench::Points`)
//!   under a budget, for a layout; run with [`Hashing::Spatial`] and [`Hashing::Local`] to
//!   compare.
//! - [`fit`]: trains a field through a small linear read-out (`prediction = w · encoding + b`,
//!   `w` and `b` trained too) toward a smooth target ([`Target`], a sum of 3-D sinusoids), by
//!   SGD on the squared error with a learning rate falling linearly to a tenth, one uniform
//!   random point per step; reports the relative RMS error of the predictions on held-out
//!   points. Run with both hashings, same steps, same points, same table size: the quality cost
//!   of the local layout.
//! - [`quantisation`]: for a trained f32 field, the relative L2 error of query results (the
//!   encodings, and the read-out's predictions) when every block is read back from an int8 file
//!   (an int8 copy written block by block and reopened), and when most rows come from f16 warm
//!   copies (a copy of the f32 file reopened with one hot block), against the f32 field.
//! - [`kernel_gain`]: the end-to-end effect of the vector kernel: single queries per CPU
//!   second through a field held in memory, scalar against AVX2 + FMA.

use std::path::Path;

use crate::bench::{Points, Workload};
use crate::error::Result;
use crate::field::Field;
use crate::kernel::Kernel;
use crate::layout::{Encoding, Hashing, Layout};
use crate::tiers::Budget;

/// One workload's locality figures for one layout.
#[derive(Clone, Copy, Debug)]
pub struct Locality {
    /// The layout's hashing.
    pub hashing: Hashing,
    /// The workload.
    pub workload: Workload,
    /// Queries run.
    pub queries: usize,
    /// Blocks loaded (read from the file or given initial values).
    pub loads: u64,
    /// Block utilisation (`Stats::utilisation`).
    pub utilisation: f64,
    /// Entries per block.
    pub entries_per_block: usize,
}

impl Locality {
    /// Blocks loaded per query.
    pub fn loads_per_query(&self) -> f64 {
        self.loads as f64 / self.queries.max(1) as f64
    }

    /// Used entries per block loaded, on average.
    pub fn entries_per_load(&self) -> f64 {
        self.utilisation * self.entries_per_block as f64
    }
}

/// Runs `queries` single queries of `workload` (points from `seed`) against a new field at
/// `path` with `layout`, under `budget`, and reports its loads and utilisation. Blocks are never
/// written, so loads give them their initial values instead of reading the disk: the counts
/// are those a filled file would give, without its I/O.
pub fn locality(
    path: &Path,
    layout: Layout,
    budget: Budget,
    workload: Workload,
    queries: usize,
    seed: u64,
) -> Result<Locality> {
    let mut field = Field::create(path, layout)?;
    field.set_budget(budget)?;
    let mut points = Points::new(workload, seed);
    let mut out = vec![0f32; field.output_len()];
    for _ in 0..queries {
        let p = points.next_point();
        field.query(&p[..layout.dim as usize], &mut out)?;
    }
    let stats = field.stats();
    Ok(Locality {
        hashing: layout.hashing,
        workload,
        queries,
        loads: stats.loads,
        utilisation: stats.utilisation(),
        entries_per_block: stats.entries_per_block,
    })
}

/// A smooth target in the unit cube: `Σ_k a_k sin(2π f_k · x + φ_k)` over a few sinusoids with
/// random directions, 1 – `max_cycles` cycles across the cube, amplitudes `1 / (1 + k)`.
#[derive(Clone, Debug)]
pub struct Target {
    waves: Vec<([f32; 3], f32, f32)>,
}

impl Target {
    /// `waves` sinusoids of up to `max_cycles` cycles across the cube, from `seed`.
    pub fn new(waves: usize, max_cycles: f32, seed: u64) -> Target {
        let mut rng = fastrand::Rng::with_seed(seed);
        let waves = (0..waves)
            .map(|k| {
                let cycles = 1.0 + rng.f32() * (max_cycles - 1.0).max(0.0);
                let mut dir = [rng.f32() - 0.5, rng.f32() - 0.5, rng.f32() - 0.5];
                let norm = dir.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
                for v in &mut dir {
                    *v *= std::f32::consts::TAU * cycles / norm;
                }
                (
                    dir,
                    rng.f32() * std::f32::consts::TAU,
                    1.0 / (1.0 + k as f32),
                )
            })
            .collect();
        Target { waves }
    }

    /// The target's value at `x`.
    pub fn value(&self, x: &[f32; 3]) -> f32 {
        self.waves
            .iter()
            .map(|(f, phase, a)| a * (f[0] * x[0] + f[1] * x[1] + f[2] * x[2] + phase).sin())
            .sum()
    }
}

/// The fit's parameters.
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// SGD steps (one uniform random point each).
    pub steps: usize,
    /// The field's learning rate at the first step (falls linearly to a tenth).
    pub lr: f32,
    /// The read-out's learning rate at the first step (falls the same way).
    pub readout_lr: f32,
    /// Held-out points the fit error is measured on.
    pub eval_points: usize,
    /// Seed of the training and held-out points.
    pub seed: u64,
}

/// A field with its linear read-out.
pub struct Model {
    /// The field (its encoding).
    pub field: Field,
    /// Read-out weights, one per output float.
    pub weights: Vec<f32>,
    /// Read-out bias.
    pub bias: f32,
}

impl Model {
    /// The read-out of an encoding.
    pub fn readout(&self, encoding: &[f32]) -> f32 {
        self.bias
            + self
                .weights
                .iter()
                .zip(encoding)
                .map(|(w, e)| w * e)
                .sum::<f32>()
    }

    /// The prediction at `x`; `encoding` receives the field's output.
    pub fn predict(&mut self, x: &[f32; 3], encoding: &mut [f32]) -> Result<f32> {
        self.field.query(x, encoding)?;
        Ok(self.readout(encoding))
    }
}

/// Trains a new field at `path` with `layout` (3-D) toward `target` for `config.steps` steps
/// (unlimited budget, no write-back while training: the blocks reach the file on a flush or
/// when the field is dropped).
pub fn train(path: &Path, layout: Layout, target: &Target, config: &FitConfig) -> Result<Model> {
    let mut field = Field::create(path, layout)?;
    field.set_write_back_threshold(usize::MAX);
    let n = field.output_len();
    let mut model = Model {
        field,
        weights: vec![1.0; n],
        bias: 0.0,
    };
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let mut encoding = vec![0f32; n];
    let mut grad = vec![0f32; n];
    for step in 0..config.steps {
        let decay = 1.0 - 0.9 * step as f32 / config.steps.max(1) as f32;
        let x = [rng.f32(), rng.f32(), rng.f32()];
        let residual = model.predict(&x, &mut encoding)? - target.value(&x);
        // d(residual²)/d(encoding) = 2 residual w; d/dw = 2 residual encoding.
        for ((g, w), e) in grad.iter_mut().zip(&mut model.weights).zip(&encoding) {
            *g = 2.0 * residual * *w;
            *w -= config.readout_lr * decay * 2.0 * residual * e;
        }
        model.bias -= config.readout_lr * decay * 2.0 * residual;
        model.field.update(&x, &grad, config.lr * decay)?;
    }
    Ok(model)
}

/// The relative RMS error of `model`'s predictions against `target` over `points` uniform
/// random points from `seed`: `sqrt(Σ (prediction − target)² / Σ target²)`.
pub fn fit_error(model: &mut Model, target: &Target, points: usize, seed: u64) -> Result<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut encoding = vec![0f32; model.field.output_len()];
    let (mut err2, mut norm2) = (0f64, 0f64);
    for _ in 0..points {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        let t = target.value(&x) as f64;
        let p = model.predict(&x, &mut encoding)? as f64;
        err2 += (p - t).powi(2);
        norm2 += t * t;
    }
    Ok((err2 / norm2.max(f64::MIN_POSITIVE)).sqrt())
}

/// A fit's outcome.
#[derive(Clone, Copy, Debug)]
pub struct Fit {
    /// The layout's hashing.
    pub hashing: Hashing,
    /// Relative RMS error of the predictions on held-out points, after training.
    pub error: f64,
    /// The same before training (initial values, read-out weights 1): the scale to judge by.
    pub untrained_error: f64,
    /// Seconds spent training.
    pub seconds: f64,
}

/// Trains a field with `layout` in `dir` (file `fit-<hashing>`) toward `target` and reports its
/// fit error; the model is returned too (flushed).
pub fn fit(
    dir: &Path,
    layout: Layout,
    target: &Target,
    config: &FitConfig,
) -> Result<(Fit, Model)> {
    let path = dir.join(format!("fit-{}", layout.hashing.name()));
    let eval_seed = config.seed ^ 0x5eed;
    let untrained = {
        let untrained_config = FitConfig {
            steps: 0,
            ..config.clone()
        };
        let scratch = dir.join(format!("untrained-{}", layout.hashing.name()));
        let mut model = train(&scratch, layout, target, &untrained_config)?;
        let e = fit_error(&mut model, target, config.eval_points, eval_seed)?;
        drop(model);
        std::fs::remove_file(&scratch)?;
        e
    };
    let start = std::time::Instant::now();
    let mut model = train(&path, layout, target, config)?;
    let seconds = start.elapsed().as_secs_f64();
    model.field.flush()?;
    let error = fit_error(&mut model, target, config.eval_points, eval_seed)?;
    Ok((
        Fit {
            hashing: layout.hashing,
            error,
            untrained_error: untrained,
            seconds,
        },
        model,
    ))
}

/// Relative L2 errors that quantised tiers add to a trained field's query results.
#[derive(Clone, Copy, Debug)]
pub struct Quantisation {
    /// Encodings read from the int8 copy, against the f32 field: `‖e_int8 − e‖ / ‖e‖`.
    pub int8_encoding: f64,
    /// The read-out's predictions from the int8 copy, against the f32 field's.
    pub int8_prediction: f64,
    /// Encodings with rows from f16 warm copies, against the f32 field.
    pub f16_encoding: f64,
    /// The read-out's predictions with rows from f16 warm copies.
    pub f16_prediction: f64,
    /// Feature rows the f16 run read from warm copies.
    pub warm_rows: u64,
    /// Feature rows the f16 run read in all (`queries × levels × 2^dim`).
    pub rows: u64,
}

/// Compares a trained model's field (`model`, f32, flushed; its file at `f32_path`) with an
/// int8 copy (`dir/int8`: every block of the layout written from the f32 field's values, then
/// reopened, so each reads back through int8) and with an f16-warm copy (`dir/f16`: the f32
/// file copied and reopened with one hot block, the rest of its budget warm), over `queries`
/// uniform random points from `seed`.
pub fn quantisation(
    dir: &Path,
    model: &mut Model,
    f32_path: &Path,
    queries: usize,
    seed: u64,
) -> Result<Quantisation> {
    model.field.flush()?;
    let layout = *model.field.layout();
    let int8_path = dir.join("int8");
    {
        let mut int8 = Field::create(
            &int8_path,
            Layout {
                cold_encoding: Encoding::Int8,
                ..layout
            },
        )?;
        for block in 0..model.field.blocking().block_count(&layout) {
            int8.write_block(block, &model.field.block_values(block)?)?;
        }
    } // dropped: written back as int8
    let mut int8 = Field::open(&int8_path)?;
    let f16_path = dir.join("f16");
    std::fs::copy(f32_path, &f16_path)?;
    let mut f16 = Field::open(&f16_path)?;
    let floats = f16.blocking().floats_per_block();
    let blocks = f16.blocking().block_count(&layout) as usize;
    f16.set_budget(Budget {
        hot_bytes: floats * 4,
        warm_bytes: blocks * floats * 2,
    })?;
    let n = model.field.output_len();
    let (mut e, mut e8, mut e16) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    // Sums of squares: [encoding diff int8, f16, norm], [prediction diff int8, f16, norm].
    let mut enc = [0f64; 3];
    let mut pred = [0f64; 3];
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..queries {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        model.field.query(&x, &mut e)?;
        int8.query(&x, &mut e8)?;
        f16.query(&x, &mut e16)?;
        for ((a, b), c) in e.iter().zip(&e8).zip(&e16) {
            enc[0] += ((b - a) as f64).powi(2);
            enc[1] += ((c - a) as f64).powi(2);
            enc[2] += (*a as f64).powi(2);
        }
        let p = model.readout(&e) as f64;
        pred[0] += (model.readout(&e8) as f64 - p).powi(2);
        pred[1] += (model.readout(&e16) as f64 - p).powi(2);
        pred[2] += p * p;
    }
    let rel = |d: f64, norm: f64| (d / norm.max(f64::MIN_POSITIVE)).sqrt();
    let corners = 1u64 << layout.dim;
    Ok(Quantisation {
        int8_encoding: rel(enc[0], enc[2]),
        int8_prediction: rel(pred[0], pred[2]),
        f16_encoding: rel(enc[1], enc[2]),
        f16_prediction: rel(pred[1], pred[2]),
        warm_rows: f16.stats().warm_reads,
        rows: queries as u64 * layout.levels as u64 * corners,
    })
}

/// This thread's CPU time in seconds (`CLOCK_THREAD_CPUTIME_ID`): on a shared machine it leaves
/// out the time other processes held the core.
fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a Linux constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Single queries per CPU second through a field in memory, with each of two kernels.
#[derive(Clone, Debug)]
pub struct KernelGain {
    /// Queries per CPU second of each round, scalar kernel.
    pub scalar: Vec<f64>,
    /// Queries per CPU second of each round, the vector kernel.
    pub vector: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

impl KernelGain {
    /// Median queries per second, scalar.
    pub fn scalar_median(&self) -> f64 {
        median(&self.scalar)
    }

    /// Median queries per second, vector.
    pub fn vector_median(&self) -> f64 {
        median(&self.vector)
    }
}

/// Runs `queries` points of `workload` through `field` (unlimited budget) once to load their
/// blocks, then `rounds` times with the scalar kernel and with `vector`, alternating, timing
/// each pass of single `query` calls in this thread's CPU time. `None` when this processor has
/// no vector kernel.
pub fn kernel_gain(
    field: &mut Field,
    workload: Workload,
    queries: usize,
    rounds: usize,
    seed: u64,
) -> Result<Option<KernelGain>> {
    let Some(vector) = Kernel::avx2_fma() else {
        return Ok(None);
    };
    let dim = field.layout().dim as usize;
    let mut points = Points::new(workload, seed);
    let xs: Vec<[f32; 3]> = (0..queries).map(|_| points.next_point()).collect();
    let mut out = vec![0f32; field.output_len()];
    field.set_budget(Budget::UNLIMITED)?;
    for x in &xs {
        field.query(&x[..dim], &mut out)?;
    }
    let mut gain = KernelGain {
        scalar: Vec::new(),
        vector: Vec::new(),
    };
    for _ in 0..rounds {
        for (kernel, rates) in [
            (Kernel::scalar(), &mut gain.scalar),
            (vector, &mut gain.vector),
        ] {
            field.set_kernel(kernel);
            let start = thread_cpu_seconds();
            for x in &xs {
                field.query(&x[..dim], &mut out)?;
            }
            rates.push(queries as f64 / (thread_cpu_seconds() - start));
        }
    }
    field.set_kernel(Kernel::best());
    Ok(Some(gain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_smooth_and_bounded() {
        let t = Target::new(6, 8.0, 1);
        let bound: f32 = (0..6).map(|k| 1.0 / (1.0 + k as f32)).sum();
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..1000 {
            let x = [rng.f32(), rng.f32(), rng.f32()];
            let v = t.value(&x);
            assert!(v.abs() <= bound + 1e-5);
            // At most 8 cycles: a step of 1e-4 changes it by at most 2π · 8 · 1e-4 · bound.
            let y = [x[0] + 1e-4, x[1], x[2]];
            let slope_bound = std::f32::consts::TAU * 8.0 * 1e-4 * bound;
            assert!((t.value(&y) - v).abs() <= slope_bound * 1.01 + 1e-6);
        }
        assert_ne!(
            t.value(&[0.1, 0.2, 0.3]),
            Target::new(6, 8.0, 2).value(&[0.1, 0.2, 0.3])
        );
    }

    #[test]
    fn kernel_gain_times_every_round_of_both_kernels() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout {
            levels: 2,
            log2_table: 14,
            log2_block_bytes: 12,
            ..Layout::default()
        };
        let mut field = Field::create(dir.path().join("f"), layout).unwrap();
        let Some(gain) = kernel_gain(&mut field, Workload::Camera, 50, 3, 1).unwrap() else {
            return; // no vector kernel on this processor
        };
        assert_eq!((gain.scalar.len(), gain.vector.len()), (3, 3));
        assert!(gain
            .scalar
            .iter()
            .chain(&gain.vector)
            .all(|r| r.is_finite() && *r > 0.0));
        assert_eq!(field.kernel(), Kernel::best());
    }
}
