//! The shared look at idle heaps (`segment::idle`) racing with their owners: 6 workers run
//! bursts of small allocations (16 B – 4 KiB, each block filled with its own pattern, some kept
//! across bursts, some handed to the next worker and freed there) with pauses of 0 – 12 ms
//! between them, while the main thread makes a slow-path call every millisecond. With
//! `SACS_PURGE_DELAY_MS=1` and `SACS_HOT_MS=2` the look walks every millisecond and takes the
//! free slices of any worker that paused for 3 ms past its deadline, so owners wake up while
//! their slices are out, take spans beside them and give spans back into the same segments.
//! Every block must keep its contents, no two live blocks may overlap, and the look must have
//! taken slices (about 400 in a release run). Run with `--features validate` too, where every
//! segment method is checked to make no system call while it holds the slice state. Timing
//! cannot force the narrowest windows (an owner carving beside slices whose `madvise` is under
//! way): the unit tests of `segment::idle` check that taken slices cannot be carved. A process
//! of its own, with the system allocator as the test's global allocator.

mod common;

use common::*;
use sacs::options::{self, Opt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const WORKERS: usize = 6;

/// Bursts until `stop`; returns its receiver, whose last blocks the main thread frees.
fn worker(
    id: usize,
    to_next: Sender<Vec<Held>>,
    from_prev: Receiver<Vec<Held>>,
    stop: Arc<AtomicBool>,
) -> Receiver<Vec<Held>> {
    let mut r = Rng::new(id as u64 + 7);
    let mut kept: Vec<Held> = Vec::new();
    let mut tag = (id as u64) << 40;
    while !stop.load(Ordering::Relaxed) {
        for h in from_prev.try_iter().flatten() {
            check_and_free(h, "a block handed on by another worker");
        }
        let mut burst: Vec<Held> = (0..r.range(500, 3000))
            .map(|_| {
                tag += 1;
                alloc_filled(r.range(16, 4096), tag)
            })
            .collect();
        let mut spans: Vec<(usize, usize)> = burst
            .iter()
            .chain(kept.iter())
            .map(|h| (h.ptr, h.len))
            .collect();
        spans.sort_unstable();
        assert_disjoint(spans, "one worker's live blocks");
        // A few stay for later bursts, a few go to the next worker, the rest are freed here.
        let mut handed = Vec::new();
        for h in burst.drain(..) {
            match r.below(20) {
                0 => kept.push(h),
                1 => handed.push(h),
                _ => check_and_free(h, "a block of the burst"),
            }
        }
        if kept.len() > 400 {
            for h in kept.drain(..200) {
                check_and_free(h, "a block kept across bursts");
            }
        }
        // The next worker's receiver lives until the main thread has drained it.
        to_next.send(handed).expect("a receiver went away");
        thread::sleep(Duration::from_millis(r.range(0, 12) as u64));
    }
    for h in kept {
        check_and_free(h, "a kept block at the end");
    }
    from_prev
}

#[test]
fn owners_wake_up_while_the_look_has_their_slices() {
    watchdog(120, "idle_walk_races");
    options::set(Opt::PurgeDelayMs, 1);
    options::set(Opt::HotMs, 2);
    let before = sacs::stats().idle_heap_slices;
    let stop = Arc::new(AtomicBool::new(false));
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..WORKERS).map(|_| channel()).unzip();
    let mut receivers: Vec<Option<Receiver<Vec<Held>>>> = receivers.into_iter().map(Some).collect();
    let handles: Vec<_> = (0..WORKERS)
        .map(|id| {
            let to_next = senders[(id + 1) % WORKERS].clone();
            let from_prev = receivers[id].take().unwrap();
            let stop = stop.clone();
            thread::spawn(move || worker(id, to_next, from_prev, stop))
        })
        .collect();
    drop(senders);
    let run = Duration::from_millis(scale(3000, 2000) as u64);
    let start = Instant::now();
    while start.elapsed() < run {
        // A big allocation that misses the thread's own cache: a slow path that runs the
        // global tick (and with it the look) when it is due.
        let p = sacs::alloc(MIB + 64 * KIB, 8);
        assert!(!p.is_null());
        // SAFETY: from sacs::alloc, freed once.
        unsafe { sacs::free(p) };
        thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    // Every worker has stopped sending once all are joined; what they sent last is freed here.
    let rest: Vec<Receiver<Vec<Held>>> = handles
        .into_iter()
        .map(|h| h.join().expect("a worker failed"))
        .collect();
    for from_prev in rest {
        for h in from_prev.try_iter().flatten() {
            check_and_free(h, "a block handed on at the end");
        }
    }
    let taken = sacs::stats().idle_heap_slices - before;
    assert!(
        taken > 0,
        "the look took no slice of a pausing worker's heap"
    );
}
