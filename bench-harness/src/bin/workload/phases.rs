//! `phases`: a long-running program whose behaviour changes, for judging a learner that tunes
//! an allocator while it runs against the best fixed setting. It alternates two phases:
//!
//! - *churn*: small and mid objects (16 B – 8 KiB) whose live set swells to about 32 MiB and
//!   drains to about 2 MiB, over and over, a few milliseconds apart: pages freed by one drain
//!   are wanted again by the next swell, so giving them back at once costs a fault per page;
//! - *jobs*: jobs that each take eight 1 MiB scratch buffers and give them back, then serve a
//!   burst of 32–128 KiB requests, with an idle pause of 300 ms between jobs: keeping the
//!   scratch committed across the pause saves the next job's faults, at the price of memory
//!   held while idle.
//!
//! Which purge and cache delays are best differs between the phases, and with the weight a
//! user gives memory against time.

use crate::common::{idle, Config, Outcome, Rng};
use crate::tally::{Block, Tally};
use crate::trace::RssTrace;

/// Cycles (one churn phase and one jobs phase each) at scale 1; at least [`MIN_CYCLES`], at
/// most [`MAX_CYCLES`] (scale 4).
const CYCLES: u64 = 3;
const MIN_CYCLES: u64 = 1;
const MAX_CYCLES: u64 = 12;
/// Swells of a churn phase, and the live bytes each swells to and drains to.
const SWELLS: usize = 100;
const SWELL_BYTES: usize = 32 << 20;
const DRAIN_BYTES: usize = 2 << 20;
/// Jobs of a jobs phase, the pause after each, the scratch and the requests of one.
const JOBS: usize = 6;
const JOB_PAUSE: core::time::Duration = core::time::Duration::from_millis(300);
const SCRATCH_BUFFERS: usize = 8;
const SCRATCH_BYTES: usize = 1 << 20;
const REQUESTS: usize = 300;

/// The names of the phases, as the `phases` field gives them (two per cycle).
const PHASE_NAMES: [&str; 2 * MAX_CYCLES as usize] = [
    "churn1", "jobs1", "churn2", "jobs2", "churn3", "jobs3", "churn4", "jobs4", "churn5", "jobs5",
    "churn6", "jobs6", "churn7", "jobs7", "churn8", "jobs8", "churn9", "jobs9", "churn10",
    "jobs10", "churn11", "jobs11", "churn12", "jobs12",
];

/// `scaled(3)` cycles (1 to 12) of a churn phase then a jobs phase; the resident set
/// is traced over the whole run (`mean_rss_kib`, pauses included) and read at each phase's end.
pub fn phases(config: &Config) -> Outcome {
    let mut tally = Tally::new("phases");
    let mut rng = Rng::new(0x5EED_FA5E);
    let cycles = config.scaled(CYCLES).clamp(MIN_CYCLES, MAX_CYCLES) as usize;
    let mut trace = RssTrace::new(256);
    let mut live: Vec<Block> = Vec::with_capacity(64 << 10);
    let mut scratch: Vec<Block> = Vec::with_capacity(SCRATCH_BUFFERS);
    for cycle in 0..cycles {
        // Churn.
        let mut bytes = 0usize;
        for _ in 0..SWELLS {
            while bytes < SWELL_BYTES {
                let len = rng.log_range(16, 8 << 10);
                live.push(tally.alloc(len));
                bytes += len;
                trace.tick(tally.ops());
            }
            while bytes > DRAIN_BYTES {
                let i = rng.range(0, live.len() - 1);
                let block = live.swap_remove(i);
                bytes -= block.len;
                tally.free(block);
                trace.tick(tally.ops());
            }
        }
        for block in live.drain(..) {
            tally.free(block);
        }
        trace.end_phase(PHASE_NAMES[2 * cycle]);
        // Jobs.
        for _ in 0..JOBS {
            for _ in 0..SCRATCH_BUFFERS {
                scratch.push(tally.alloc(SCRATCH_BYTES));
            }
            trace.sample();
            for block in scratch.drain(..) {
                tally.free(block);
            }
            for _ in 0..REQUESTS {
                let block = tally.alloc(rng.log_range(32 << 10, 128 << 10));
                tally.free(block);
                trace.tick(tally.ops());
            }
            trace.sample();
            idle(JOB_PAUSE);
            trace.sample();
        }
        trace.end_phase(PHASE_NAMES[2 * cycle + 1]);
    }
    let final_rss = trace.sample();
    let report = trace.finish();
    Outcome {
        rss: Some(report),
        ..tally.outcome(Some(final_rss))
    }
}
