//! `batch`: a service that runs a heavy job now and then between bursts of small requests, and
//! idles between jobs. Each job takes large scratch buffers from one call site and gives them
//! all back when it ends; the requests take and give back big buffers from another site many
//! times a millisecond. What an allocator does with the job's freed scratch decides the memory
//! the program holds while it idles: kept for reuse, it stays resident until the next job; given
//! back at once, the next job faults it in again.

use crate::common::Rng;
use crate::common::{Config, Outcome};
use crate::tally::{Block, Tally};
use crate::trace::RssTrace;

/// Jobs at scale 1 (at least [`MIN_JOBS`] at any scale).
const JOBS: u64 = 12;
const MIN_JOBS: u64 = 3;
/// Scratch buffers of a job, each of [`SCRATCH_BYTES`] (below the 2 MiB whale threshold, so
/// they are big blocks, cached and reused by the allocators that cache).
const SCRATCH_BUFFERS: usize = 8;
const SCRATCH_BYTES: usize = 1 << 20;
/// Requests served after each job, each a buffer of 32–128 KiB taken, written and given back.
const REQUESTS: usize = 500;

/// The names of [`batch`]'s phases: the resident set is read at the end of each job's idle
/// pause (as many names as jobs are run, up to the scale-1 count).
const PHASE_NAMES: [&str; JOBS as usize] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
];

/// A job's scratch buffer, from a call site of its own.
#[inline(never)]
fn scratch(tally: &mut Tally) -> Block {
    tally.alloc(SCRATCH_BYTES)
}

/// A request's buffer, from a call site of its own.
#[inline(never)]
fn request(tally: &mut Tally, rng: &mut Rng) -> Block {
    tally.alloc(rng.log_range(32 << 10, 128 << 10))
}

/// `max(3, scaled(12))` jobs. Each job: [`SCRATCH_BUFFERS`] scratch buffers of 1 MiB taken,
/// written and checked, then all freed; then [`REQUESTS`] requests, each a buffer of 32–128
/// KiB (log-uniform) taken, written, checked and freed; then an idle pause
/// ([`RssTrace::settle`], 250 ms: longer than the delays after which SACS and mimalloc give
/// memory back). The resident set is read at the end of every pause (`phase_rss_kib`) and over
/// the whole run (`mean_rss_kib`); `final_rss_kib` is the reading after the last pause.
pub fn batch(config: &Config) -> Outcome {
    let mut tally = Tally::new("batch");
    let mut rng = Rng::new(0x5EED_00BA);
    let jobs = config.scaled(JOBS).clamp(MIN_JOBS, JOBS) as usize;
    let mut trace = RssTrace::new(64);
    let mut buffers = Vec::with_capacity(SCRATCH_BUFFERS);
    for name in &PHASE_NAMES[..jobs] {
        for _ in 0..SCRATCH_BUFFERS {
            buffers.push(scratch(&mut tally));
        }
        trace.sample();
        for block in buffers.drain(..) {
            tally.free(block);
        }
        for _ in 0..REQUESTS {
            let block = request(&mut tally, &mut rng);
            tally.free(block);
            trace.tick(tally.ops());
        }
        trace.settle();
        trace.end_phase(name);
    }
    let final_rss = trace.sample();
    let report = trace.finish();
    Outcome {
        rss: Some(report),
        ..tally.outcome(Some(final_rss))
    }
}
