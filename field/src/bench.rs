//! The benchmark of issue 13's point 4, as a library so that a test can run it: the workloads
//! (a camera path, Zipf-skewed regions, uniform points, a training epoch), a field file sized
//! and filled for them ([`prepare`]), and the measuring loop ([`measure`]) that reopens the
//! file cold and reports latency percentiles (`hdrhistogram`), throughput, resident memory
//! (`/proc/self/status`) and bytes read (`/proc/self/io`) as one line of `key=value`.
//!
//! Two engines answer the same workloads: [`Engine::Field`], SACS's paged field, and
//! [`Engine::Mmap`], baseline (a): the same tables as one `memmap2` mapping of a plain f32 file
//! ([`mmap`]), paged by the kernel (the script `field/bench/run-big.sh` holds its page cache to
//! the budget with a cgroup v1 memory group).
//!
//! The binary `field-bench` parses its arguments into a [`Config`] and calls both.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::error::Result;
use crate::field::{Field, TailCounters};
use mmap::MmapField;
use procfs::{drop_page_cache, major_faults};
pub use procfs::{io_counter, status_kib};
pub use slow::{SlowCalls, BAR_CALL_NS, SLOW_CALL_NS};

pub mod mmap;
mod procfs;
mod report;
mod slow;

use crate::layout::{Encoding, Hashing, Layout};
use crate::tiers::Budget;
pub use report::Report;

/// log2 of a block size in bytes from the benchmark binaries' `--block-kib` (4, 8, 16, 32 or
/// 64 KiB), or the message to print.
pub fn log2_block_bytes(kib: u64) -> std::result::Result<u8, String> {
    if !matches!(kib, 4 | 8 | 16 | 32 | 64) {
        return Err(format!("block size {kib} KiB: 4, 8, 16, 32 or 64"));
    }
    Ok((kib.trailing_zeros() + 10) as u8)
}

/// The `main` of the benchmark binaries: `parse`s the arguments (a message and exit status 2
/// when they are wrong), `run`s, and prints an error as `name: error` with exit status 1.
pub fn cli_main<A, E: std::fmt::Display>(
    name: &str,
    parse: impl FnOnce() -> std::result::Result<A, String>,
    run: impl FnOnce(A) -> std::result::Result<(), E>,
) -> std::process::ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Features per entry in the benchmark's layouts (16 bytes of f32 per entry).
const FEATURES: u8 = 4;
/// Levels when the size allows 2^14-entry tables or more.
const LEVELS: u8 = 16;
/// Hot blocks kept while a field file is filled (16 MiB), so filling stays small in memory.
const FILL_HOT_BYTES: usize = 16 << 20;
/// Distance between consecutive points of a camera path (a finest cell at resolution 2048 is
/// 4.9e-4 wide).
const CAMERA_STEP: f32 = 2e-4;
/// Largest change of the camera's direction per step, per axis, before renormalising.
const CAMERA_TURN: f32 = 0.05;
/// Hot regions of the Zipf workload (random centres).
const ZIPF_REGIONS: usize = 4096;
/// The Zipf exponent: region of rank `k` (from 1) is chosen with probability ∝ `k^-1.1`.
const ZIPF_EXPONENT: f64 = 1.1;
/// A Zipf point lies within this distance of its region's centre, per axis.
const ZIPF_HALF_WIDTH: f32 = 0.01;
/// Learning rate of the training workload.
const TRAIN_LR: f32 = 0.01;

/// Which points the benchmark queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A smooth path through the unit cube: each point a small step from the last, the
    /// direction turning slowly (structured).
    Camera,
    /// Points near a set of region centres, each chosen with Zipf-skewed probability (skewed).
    Zipf,
    /// Uniform random points (adversarial for any cache or prefetch).
    Uniform,
    /// An epoch of `update` calls along a camera path, then `flush`.
    Train,
}

impl Workload {
    /// All workloads, in the order the docs list them.
    pub const ALL: [Workload; 4] = [
        Workload::Camera,
        Workload::Zipf,
        Workload::Uniform,
        Workload::Train,
    ];

    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Camera => "camera",
            Workload::Zipf => "zipf",
            Workload::Uniform => "uniform",
            Workload::Train => "train",
        }
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Workload, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown workload {s:?} (camera, zipf, uniform or train)"))
    }
}

/// Which implementation answers the queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// SACS's paged field ([`Field`]) under the budget.
    Field,
    /// Baseline (a): one shared mapping of a plain f32 file ([`MmapField`]); the budget is
    /// enforced outside the process (a memory cgroup), or, with none, the whole file is loaded
    /// into the page cache first.
    Mmap,
    /// Baseline (a) with `madvise(MADV_RANDOM)` on the mapping: each page fault reads only
    /// its page, no readahead (the kernel's other guess).
    MmapRandom,
}

impl Engine {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Field => "field",
            Engine::Mmap => "mmap",
            Engine::MmapRandom => "mmap-random",
        }
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Engine, String> {
        match s {
            "field" => Ok(Engine::Field),
            "mmap" => Ok(Engine::Mmap),
            "mmap-random" => Ok(Engine::MmapRandom),
            _ => Err(format!("unknown engine {s:?} (field, mmap or mmap-random)")),
        }
    }
}

/// One benchmark run's parameters.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which implementation answers.
    pub engine: Engine,
    /// The field's f32 size in its file, MiB (the layout is chosen to come close).
    pub size_mib: u64,
    /// Hot + warm budget in MiB (3/4 hot, 1/4 warm); 0 = unlimited, after a warm-up pass that
    /// loads every block (baseline (b), all in RAM).
    pub budget_mib: u64,
    /// The workload.
    pub workload: Workload,
    /// Queries (or updates) measured at most.
    pub queries: usize,
    /// Stop the measured loop after the first call that ends past this many seconds (0 = no
    /// limit); the report counts the queries actually measured.
    pub max_seconds: f64,
    /// Points per call: 1 = `query`, more = `query_batch` (or that many `update`s timed
    /// together).
    pub batch: usize,
    /// Seed of the points and of the field's initial values.
    pub seed: u64,
    /// Try to drop the page cache (`/proc/sys/vm/drop_caches`, root only) before measuring.
    pub drop_caches: bool,
    /// The field's bound on pending background reads (`Field::set_read_ahead`; 0: no
    /// reader); `None` keeps the field's default.
    pub read_ahead: Option<usize>,
    /// Single queries (batch 1, not train) with exact look-ahead: before each query, the
    /// field is handed the point this many queries ahead (`Field::prefetch`, timed with the
    /// query: the caller pays for it). 0: none. The field engine only.
    pub look_ahead: usize,
    /// The field's live predictor (`Field::set_predictor`) with this horizon; 0: off.
    pub predict: usize,
    /// The field's promotion threshold (`Field::set_promote_at`); `None`: derived from the
    /// budget (session 12).
    pub promote_at: Option<u8>,
    /// The warm tier's share of the tiers' budget, in percent (the rest hot); the
    /// benchmark's default is 25.
    pub warm_percent: u8,
}

/// The layout of a field of about `size_mib` MiB of f32 features: 3-D, 4 features, blocks of
/// `2^log2_block_bytes` bytes (12 – 16; the benchmark's default is 14, 16 KiB), resolutions 16 – 2048, one tile; 16 levels of `size / 256` entries each (rounded to
/// a power of two), fewer levels of 2^14 entries below 4 MiB, up to 32 levels of 2^24 entries
/// above 4 GiB.
pub fn layout_for_size(size_mib: u64, log2_block_bytes: u8, seed: u64) -> Layout {
    let entries = (size_mib.max(1) << 20) / (FEATURES as u64 * 4);
    let (levels, log2_table) = if entries < (LEVELS as u64) << 14 {
        ((entries >> 14).clamp(1, LEVELS as u64) as u8, 14)
    } else if entries > (LEVELS as u64) << 24 {
        ((entries >> 24).min(32) as u8, 24)
    } else {
        let per_level = entries as f64 / LEVELS as f64;
        (LEVELS, per_level.log2().round().clamp(14.0, 24.0) as u8)
    };
    Layout {
        dim: 3,
        levels,
        log2_table,
        features: FEATURES,
        base_resolution: 16,
        finest_resolution: 2048,
        tiles_per_axis: 1,
        log2_block_bytes,
        init_scale: 0.1,
        seed,
        cold_encoding: Encoding::F32,
        hashing: Hashing::Spatial,
    }
}

/// The f32 bytes of a layout's tables.
pub fn layout_bytes(layout: &Layout) -> u64 {
    layout.logical_bytes() as u64
}

/// Creates a field file at `path` with `layout` and writes every block once (its initial
/// values), holding at most 16 MiB of hot blocks meanwhile; the field is dropped (and its file
/// synced) before this returns.
pub fn prepare(path: &Path, layout: Layout) -> Result<()> {
    let mut field = Field::create(path, layout)?;
    field.set_budget(Budget {
        hot_bytes: FILL_HOT_BYTES,
        warm_bytes: 0,
    })?;
    let blocks = field.blocking().block_count(&layout);
    for block in 0..blocks {
        let values = field.block_values(block)?;
        field.write_block(block, &values)?;
    }
    field.flush()
}

/// A small deterministic source of points for one workload.
pub struct Points {
    workload: Workload,
    rng: fastrand::Rng,
    position: [f32; 3],
    direction: [f32; 3],
    centres: Vec<[f32; 3]>,
    cumulative: Vec<f64>,
}

impl Points {
    /// The points of `workload`, from `seed`.
    pub fn new(workload: Workload, seed: u64) -> Points {
        let mut rng = fastrand::Rng::with_seed(seed);
        let position = [rng.f32(), rng.f32(), rng.f32()];
        let mut direction = [rng.f32() - 0.5, rng.f32() - 0.5, rng.f32() - 0.5];
        normalise(&mut direction);
        let (centres, cumulative) = if workload == Workload::Zipf {
            let centres = (0..ZIPF_REGIONS)
                .map(|_| [rng.f32(), rng.f32(), rng.f32()])
                .collect();
            let mut total = 0.0;
            let cumulative = (0..ZIPF_REGIONS)
                .map(|rank| {
                    total += 1.0 / ((rank + 1) as f64).powf(ZIPF_EXPONENT);
                    total
                })
                .collect();
            (centres, cumulative)
        } else {
            (Vec::new(), Vec::new())
        };
        Points {
            workload,
            rng,
            position,
            direction,
            centres,
            cumulative,
        }
    }

    /// The next point, in `[0, 1]^3`.
    pub fn next_point(&mut self) -> [f32; 3] {
        match self.workload {
            Workload::Camera | Workload::Train => self.camera_step(),
            Workload::Zipf => {
                let total = *self.cumulative.last().unwrap_or(&1.0);
                let u = self.rng.f64() * total;
                let region = self
                    .cumulative
                    .partition_point(|&c| c < u)
                    .min(ZIPF_REGIONS - 1);
                let centre = self.centres[region];
                std::array::from_fn(|d| {
                    let offset = (self.rng.f32() * 2.0 - 1.0) * ZIPF_HALF_WIDTH;
                    (centre[d] + offset).clamp(0.0, 1.0)
                })
            }
            Workload::Uniform => [self.rng.f32(), self.rng.f32(), self.rng.f32()],
        }
    }

    /// One step along the camera path: turn a little, move, reflect off the cube's faces.
    fn camera_step(&mut self) -> [f32; 3] {
        for d in 0..3 {
            self.direction[d] += (self.rng.f32() * 2.0 - 1.0) * CAMERA_TURN;
        }
        normalise(&mut self.direction);
        for d in 0..3 {
            let mut p = self.position[d] + CAMERA_STEP * self.direction[d];
            if !(0.0..=1.0).contains(&p) {
                self.direction[d] = -self.direction[d];
                p = p.clamp(0.0, 1.0);
            }
            self.position[d] = p;
        }
        self.position
    }

    /// `n` points, flattened (`3 n` floats).
    pub fn take_flat(&mut self, n: usize) -> Vec<f32> {
        (0..n).flat_map(|_| self.next_point()).collect()
    }
}

fn normalise(v: &mut [f32; 3]) {
    let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-12);
    for x in v.iter_mut() {
        *x /= norm;
    }
}

/// A gradient for a training step at `x`: small, smooth in `x`, different per output.
fn train_gradient(x: &[f32], grad: &mut [f32]) {
    for (i, g) in grad.iter_mut().enumerate() {
        let phase = (i as f32 + 1.0) * (x[0] + 2.0 * x[1] + 3.0 * x[2]);
        *g = 0.1 * phase.sin();
    }
}

/// The calls the measured loop makes, on either engine.
trait Subject {
    fn query(&mut self, x: &[f32], out: &mut [f32]) -> Result<()>;
    fn query_batch(&mut self, xs: &[f32], out: &mut [f32]) -> Result<()>;
    fn update(&mut self, x: &[f32], grad: &[f32], lr: f32) -> Result<()>;
    fn flush(&mut self) -> Result<()>;
    /// Exact look-ahead of the points `xs` (`Field::prefetch`); the mapping has none.
    fn prefetch(&mut self, xs: &[f32]) -> Result<()>;
    /// Where the caller's time went (`Field::tail_counters`); the mapping does not say.
    fn tail(&self) -> TailCounters;
}

impl Subject for Field {
    fn query(&mut self, x: &[f32], out: &mut [f32]) -> Result<()> {
        Field::query(self, x, out)
    }
    fn query_batch(&mut self, xs: &[f32], out: &mut [f32]) -> Result<()> {
        Field::query_batch(self, xs, out)
    }
    fn update(&mut self, x: &[f32], grad: &[f32], lr: f32) -> Result<()> {
        Field::update(self, x, grad, lr)
    }
    fn flush(&mut self) -> Result<()> {
        Field::flush(self)
    }
    fn prefetch(&mut self, xs: &[f32]) -> Result<()> {
        Field::prefetch(self, xs).map(|_| ())
    }
    fn tail(&self) -> TailCounters {
        self.tail_counters()
    }
}

impl Subject for MmapField {
    fn query(&mut self, x: &[f32], out: &mut [f32]) -> Result<()> {
        MmapField::query(self, x, out)
    }
    fn query_batch(&mut self, xs: &[f32], out: &mut [f32]) -> Result<()> {
        MmapField::query_batch(self, xs, out)
    }
    fn update(&mut self, x: &[f32], grad: &[f32], lr: f32) -> Result<()> {
        MmapField::update(self, x, grad, lr)
    }
    fn flush(&mut self) -> Result<()> {
        MmapField::flush(self)
    }
    fn prefetch(&mut self, _xs: &[f32]) -> Result<()> {
        Ok(())
    }
    fn tail(&self) -> TailCounters {
        TailCounters::default()
    }
}

/// What the measured loop found, before the engine's own statistics are added.
struct Measured {
    slow: SlowCalls,
    queries: usize,
    seconds: f64,
    histogram: Histogram<u64>,
    flush_ms: f64,
    bytes_read: u64,
    read_call_bytes: u64,
    major_faults: u64,
    non_finite: u64,
    peak_reset: bool,
}

/// Times each call of `query`, `query_batch` or (train) `batch` calls of `update` on
/// `config`'s points until `config.queries` are done or `config.max_seconds` have passed, and,
/// for train, the closing `flush`; then checks that the answers (train: a sample of queries
/// after the epoch) are finite. Resets the peak RSS first.
fn measure_loop<S: Subject>(subject: &mut S, width: usize, config: &Config) -> Result<Measured> {
    let dim = 3;
    let seed = config.seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut points = Points::new(config.workload, seed);
    let batch = config.batch.max(1);
    let mut out = vec![0f32; batch * width];
    let mut grad = vec![0f32; width];
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("constant histogram bounds are valid");
    let mut non_finite = 0u64;
    let peak_reset = fs::write("/proc/self/clear_refs", "5").is_ok();
    let read_bytes_before = io_counter("read_bytes");
    let rchar_before = io_counter("rchar");
    let faults_before = major_faults();

    // Look-ahead: the points not yet queried, the next one first (made outside the timed
    // calls, like every point).
    let look_ahead = if batch == 1 && config.workload != Workload::Train {
        config.look_ahead
    } else {
        0
    };
    let mut ahead: std::collections::VecDeque<[f32; 3]> =
        (0..look_ahead).map(|_| points.next_point()).collect();

    let mut slow = SlowCalls::default();
    let mut done = 0;
    let started = Instant::now();
    while done < config.queries {
        if config.max_seconds > 0.0 && started.elapsed().as_secs_f64() >= config.max_seconds {
            break;
        }
        let n = batch.min(config.queries - done);
        // The points are made outside the timed call.
        let (chunk, coming) = if look_ahead > 0 {
            let coming = points.next_point();
            ahead.push_back(coming);
            let x = ahead
                .pop_front()
                .expect("the look-ahead window is not empty");
            (x.to_vec(), Some(coming))
        } else {
            (points.take_flat(n), None)
        };
        let tail_before = subject.tail();
        let call = Instant::now();
        if let Some(coming) = coming {
            subject.prefetch(&coming)?;
        }
        match config.workload {
            Workload::Train => {
                for x in chunk.chunks_exact(dim) {
                    train_gradient(x, &mut grad);
                    subject.update(x, &grad, TRAIN_LR)?;
                }
            }
            _ if batch == 1 => subject.query(&chunk, &mut out)?,
            _ => subject.query_batch(&chunk, &mut out[..n * width])?,
        }
        let call_ns = call.elapsed().as_nanos() as u64;
        if call_ns > SLOW_CALL_NS {
            slow.add(call_ns, &tail_before, &subject.tail());
        }
        let nanos = call_ns / n as u64;
        histogram.saturating_record(nanos.max(1));
        if config.workload != Workload::Train {
            non_finite += out[..n * width].iter().filter(|v| !v.is_finite()).count() as u64;
        }
        done += n;
    }
    let flushed = Instant::now();
    if config.workload == Workload::Train {
        subject.flush()?;
    }
    let flush_ms = flushed.elapsed().as_secs_f64() * 1e3;
    let seconds = started.elapsed().as_secs_f64();
    let bytes_read = io_counter("read_bytes").saturating_sub(read_bytes_before);
    let read_call_bytes = io_counter("rchar").saturating_sub(rchar_before);
    let major_faults = major_faults().saturating_sub(faults_before);
    if config.workload == Workload::Train {
        // The trained field must still answer with finite values.
        let mut again = Points::new(config.workload, seed);
        let xs = again.take_flat(done);
        let mut out = vec![0f32; width];
        for x in xs.chunks_exact(dim).step_by(97) {
            subject.query(x, &mut out)?;
            non_finite += out.iter().filter(|v| !v.is_finite()).count() as u64;
        }
    }
    Ok(Measured {
        slow,
        queries: done,
        seconds,
        histogram,
        flush_ms,
        bytes_read,
        read_call_bytes,
        major_faults,
        non_finite,
        peak_reset,
    })
}

/// The report of a run from its loop's measures; the field's statistics are left at 0.
fn report(config: &Config, layout: &Layout, measured: Measured) -> Report {
    let histogram = &measured.histogram;
    let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1e3;
    Report {
        config: config.clone(),
        layout_mib: layout_bytes(layout) as f64 / (1u64 << 20) as f64,
        dropped_caches: false,
        peak_reset: measured.peak_reset,
        open_ms: 0.0,
        open_bytes_read: 0,
        open_peak_kib: 0,
        base_rss_kib: 0,
        warmup_ms: 0.0,
        queries: measured.queries,
        seconds: measured.seconds,
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        max_us: histogram.max() as f64 / 1e3,
        queries_per_s: measured.queries as f64 / measured.seconds,
        flush_ms: measured.flush_ms,
        rss_peak_kib: status_kib("VmHWM"),
        rss_end_kib: status_kib("VmRSS"),
        bytes_read: measured.bytes_read,
        read_call_bytes: measured.read_call_bytes,
        major_faults: measured.major_faults,
        loads: 0,
        warm_reads: 0,
        hot_blocks: 0,
        warm_blocks: 0,
        write_backs: 0,
        write_waits: 0,
        write_wait_ms: 0.0,
        gathered: 0,
        ahead_used: 0,
        predictions: 0,
        caller_loads: 0,
        misses: 0,
        joint_reads: 0,
        joint_blocks: 0,
        update_warm_loads: 0,
        update_ahead_loads: 0,
        promotions: 0,
        promote_at: 0,
        utilisation: 0.0,
        non_finite: measured.non_finite,
        slow: measured.slow,
    }
}

/// Reopens the field file at `path` cold and runs `config`'s workload on it ([`Engine::Field`];
/// `config.engine` is not consulted): drops the page cache if asked and allowed, resets the
/// peak RSS, opens the file, drops the page cache and resets the peak again, sets the budget
/// (or, with none, loads every block first: the all-in-RAM baseline), then runs the measured
/// loop (see [`Config::queries`] and [`Config::max_seconds`]).
pub fn measure(path: &Path, config: &Config) -> Result<Report> {
    let dropped_caches = config.drop_caches && drop_page_cache();
    let peak_reset = fs::write("/proc/self/clear_refs", "5").is_ok();

    let base_rss_kib = status_kib("VmRSS");
    let read_bytes_at_open = io_counter("read_bytes");
    let opened = Instant::now();
    let mut field = Field::open(path)?;
    let open_ms = opened.elapsed().as_secs_f64() * 1e3;
    let open_bytes_read = io_counter("read_bytes").saturating_sub(read_bytes_at_open);
    // Opening reads the store's index (or, after a crash, scans every slot header in windows):
    // what it read and its RSS peak are reported for the open, then the page cache is dropped
    // and the peak reset so that the measured loop starts cold.
    let open_peak_kib = status_kib("VmHWM");
    let dropped_after_open = config.drop_caches && drop_page_cache();
    let layout = *field.layout();
    if let Some(blocks) = config.read_ahead {
        field.set_read_ahead(blocks)?;
    }
    if config.predict > 0 {
        field.set_predictor(Some(crate::Predictor {
            horizon: config.predict,
            ..crate::Predictor::default()
        }));
    }
    let mut warmup_ms = 0.0;
    if config.budget_mib > 0 {
        // The budget bounds the field's resident memory as a whole (its block map, tables
        // and buffers set aside first), `warm_percent` of the rest warm (1/4 by default), the
        // rest hot.
        let budget = (config.budget_mib as usize) << 20;
        let warm_bytes = budget / 100 * config.warm_percent.min(100) as usize;
        field.set_resident_budget(Budget {
            hot_bytes: budget - warm_bytes,
            warm_bytes,
        })?;
        field.set_promote_at(config.promote_at);
    } else {
        let warmup = Instant::now();
        for block in 0..field.blocking().block_count(&layout) {
            field.block_values(block)?;
        }
        warmup_ms = warmup.elapsed().as_secs_f64() * 1e3;
    }

    let before = field.stats();
    let width = field.output_len();
    let measured = measure_loop(&mut field, width, config)?;
    let stats = field.stats();
    let peak_reset = peak_reset && measured.peak_reset;
    Ok(Report {
        dropped_caches: dropped_caches && dropped_after_open,
        peak_reset,
        open_ms,
        open_bytes_read,
        open_peak_kib,
        base_rss_kib,
        warmup_ms,
        loads: stats.loads - before.loads,
        warm_reads: stats.warm_reads - before.warm_reads,
        hot_blocks: stats.hot_blocks,
        warm_blocks: stats.warm_blocks,
        write_backs: stats.write_backs - before.write_backs,
        write_waits: stats.write_behind_waits - before.write_behind_waits,
        gathered: stats.gathered - before.gathered,
        ahead_used: stats.ahead_used - before.ahead_used,
        predictions: stats.predictions - before.predictions,
        caller_loads: stats.tail.loads - before.tail.loads,
        misses: stats.tail.misses - before.tail.misses,
        joint_reads: stats.tail.joint_reads - before.tail.joint_reads,
        joint_blocks: stats.tail.joint_blocks - before.tail.joint_blocks,
        update_warm_loads: stats.tail.update_warm_loads - before.tail.update_warm_loads,
        update_ahead_loads: stats.tail.update_ahead_loads - before.tail.update_ahead_loads,
        promotions: stats.tail.promotions - before.tail.promotions,
        promote_at: field.promote_at(),
        write_wait_ms: (stats.write_behind_wait_ns - before.write_behind_wait_ns) as f64 / 1e6,
        utilisation: stats.utilisation(),
        ..report(config, &layout, measured)
    })
}

/// Runs `config`'s workload on the f32 file at `path` holding `layout`'s tables through one
/// mapping ([`Engine::Mmap`], or [`Engine::MmapRandom`] if `config.engine` says so; any other
/// engine counts as `Mmap`): drops the page cache if asked and allowed, maps the file (and
/// advises random access for `MmapRandom`), and with no budget (`budget_mib` 0) touches every page
/// first (all in the page cache); with a budget, the process's memory cgroup (set up by the
/// caller) is what bounds the page cache. Then runs the measured loop.
pub fn measure_mmap(path: &Path, layout: Layout, config: &Config) -> Result<Report> {
    let dropped_caches = config.drop_caches && drop_page_cache();
    let _ = fs::write("/proc/self/clear_refs", "5");
    let base_rss_kib = status_kib("VmRSS");
    let read_bytes_at_open = io_counter("read_bytes");
    let opened = Instant::now();
    let mut mapped = MmapField::open(path, layout)?;
    if config.engine == Engine::MmapRandom {
        mapped.advise(memmap2::Advice::Random)?;
    }
    let open_ms = opened.elapsed().as_secs_f64() * 1e3;
    let open_bytes_read = io_counter("read_bytes").saturating_sub(read_bytes_at_open);
    let open_peak_kib = status_kib("VmHWM");
    let mut warmup_ms = 0.0;
    if config.budget_mib == 0 {
        let warmup = Instant::now();
        let sum = mapped.load_all()?;
        std::hint::black_box(sum);
        warmup_ms = warmup.elapsed().as_secs_f64() * 1e3;
    }
    let width = mapped.output_len();
    let measured = measure_loop(&mut mapped, width, config)?;
    Ok(Report {
        dropped_caches,
        open_ms,
        open_bytes_read,
        open_peak_kib,
        base_rss_kib,
        warmup_ms,
        ..report(config, &layout, measured)
    })
}

/// The file name the benchmark gives a field of `layout` in `dir` (its hashing and, for int8,
/// its cold encoding in the name, so that files of different layouts do not collide).
pub fn field_path(dir: &Path, layout: &Layout) -> PathBuf {
    let hashing = match layout.hashing {
        Hashing::Spatial => "",
        Hashing::Local => "-local",
        Hashing::Bricked => "-bricked",
    };
    // f32 files keep the names they had before the encoding could be chosen.
    let encoding = match layout.cold_encoding {
        Encoding::F32 => "",
        Encoding::Int8 => "-int8",
    };
    dir.join(format!(
        "field-bench-{}mib-{}kib-seed{}{hashing}{encoding}.field",
        layout_bytes(layout) >> 20,
        (1u32 << layout.log2_block_bytes) >> 10,
        layout.seed
    ))
}

/// The file name the benchmark gives the plain f32 copy of the field file at `field_path`
/// (baseline (a)): the same name with the extension `.f32`.
pub fn mmap_path(field_path: &Path) -> PathBuf {
    field_path.with_extension("f32")
}
