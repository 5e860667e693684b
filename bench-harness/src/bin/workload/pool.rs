//! `pool` and `pool-small`: a pool of worker threads that mostly wait, as a service's workers
//! do between requests. Jobs go to the workers in turn, one at a time; each takes a few big
//! buffers (`pool`) or many small objects (`pool-small`), writes and checks them, and frees
//! them; then the worker blocks until its next job, making no call to the allocator. What they
//! measure: the memory an allocator keeps for threads that wait, and the page faults it pays to
//! get it back. A thread's own cache of freed blocks that only the thread itself empties stays
//! resident for as long as the thread waits, once per worker; what one job needs is all the
//! program needs at a time.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::common::{fail, idle, Config, Outcome, Rng};
use crate::tally::Tally;
use crate::trace::RssTrace;

/// Worker threads.
const WORKERS: usize = 16;
/// Jobs at scale 1 (at least one per worker at any scale).
const JOBS: u64 = 120;
/// Buffers of a job, the `k`th of [`BUFFER_BYTES`] + `k` × [`BUFFER_STEP`] bytes (below the
/// 2 MiB whale threshold: big blocks, of three size classes).
const BUFFERS: usize = 3;
const BUFFER_BYTES: usize = 1 << 20;
const BUFFER_STEP: usize = 28 << 10;
/// The pause after each job, before the next worker's: a worker's turn comes again
/// [`WORKERS`] × this later (640 ms: longer than the 100 ms after which SACS's freed big blocks
/// leave the hot state, shorter than its 600 ms cold delay).
const GAP: Duration = Duration::from_millis(40);
/// `pool-small`: objects of a job, of 16 – 512 B (uniform): about 10 MiB.
const SMALL_OBJECTS: usize = 40_000;

/// One job of `pool` on a worker: [`BUFFERS`] buffers taken, written, checked and freed.
fn big_job(tally: &mut Tally, _rng: &mut Rng) {
    let blocks: Vec<_> = (0..BUFFERS)
        .map(|k| tally.alloc(BUFFER_BYTES + k * BUFFER_STEP))
        .collect();
    for block in blocks {
        tally.free(block);
    }
}

/// One job of `pool-small` on a worker: [`SMALL_OBJECTS`] objects taken and written, then
/// checked and freed in the order they were taken.
fn small_job(tally: &mut Tally, rng: &mut Rng) {
    let blocks: Vec<_> = (0..SMALL_OBJECTS)
        .map(|_| tally.alloc(rng.range(16, 512)))
        .collect();
    for block in blocks {
        tally.free(block);
    }
}

/// `pool`: jobs of three big buffers (see [`run`]).
pub fn pool(config: &Config) -> Outcome {
    run(config, "pool", big_job)
}

/// `pool-small`: jobs of 40,000 small objects (see [`run`]).
pub fn pool_small(config: &Config) -> Outcome {
    run(config, "pool-small", small_job)
}

/// `max(16, scaled(120))` jobs of `job`, handed to [`WORKERS`] threads in turn, each after the
/// previous one finished and a pause of [`GAP`] (idle: not counted in the workload's time). The
/// resident set is read after each job and after each pause (`mean_rss_kib`); `final_rss_kib`
/// is read after the last pause, with every worker still waiting.
fn run(config: &Config, name: &'static str, job: fn(&mut Tally, &mut Rng)) -> Outcome {
    let jobs = config.scaled(JOBS).max(WORKERS as u64) as usize;
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut starts = Vec::with_capacity(WORKERS);
    let mut workers = Vec::with_capacity(WORKERS);
    for w in 0..WORKERS {
        let (start_tx, start_rx) = mpsc::channel::<()>();
        let done_tx = done_tx.clone();
        starts.push(start_tx);
        workers.push(thread::spawn(move || {
            let mut tally = Tally::new(name);
            let mut rng = Rng::new(w as u64 + 1);
            // Waits for a job; the channel closes when the run is over.
            while start_rx.recv().is_ok() {
                job(&mut tally, &mut rng);
                if done_tx.send(()).is_err() {
                    break;
                }
            }
            tally.outcome(None)
        }));
    }
    let mut trace = RssTrace::new(1);
    for j in 0..jobs {
        if starts[j % WORKERS].send(()).is_err() || done_rx.recv().is_err() {
            fail(format_args!("{name}: a worker stopped"));
        }
        trace.sample();
        idle(GAP);
        trace.sample();
    }
    let final_rss = trace.sample();
    let report = trace.finish();
    drop(starts);
    let mut outcome = Outcome {
        threads: WORKERS,
        final_rss_kib: Some(final_rss),
        rss: Some(report),
        ..Outcome::default()
    };
    for worker in workers {
        let o = worker
            .join()
            .unwrap_or_else(|_| fail(format_args!("{name}: a worker panicked")));
        outcome.ops += o.ops;
        outcome.checksum = outcome.checksum.wrapping_add(o.checksum);
    }
    outcome
}
