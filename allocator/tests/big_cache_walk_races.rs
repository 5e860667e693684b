//! The shared look at threads' own caches of big blocks (`big::local::flush_idle`) racing
//! with the caches' owners. The owners' guard is asymmetric (a plain busy mark, read by the
//! walk after a `membarrier`; see `big::local`), so this is the test of that fence: 3 owners
//! free and take blocks of four big classes a thread's cache keeps (64 – 192 KiB, each filled
//! with its own pattern and checked before its free), pausing 0 – 3 ms now and then, while one
//! thread calls `sacs::purge()` (a forced walk) in a loop and the main thread makes a big
//! allocation every half millisecond (a slow path, which walks when due). With
//! `SACS_HOT_MS=2` a block waits 2 ms in its cache before a walk may take it, so walks take
//! blocks from owners that are about to take them back. A block that a walk gave to its arena
//! while its owner handed it out again would be handed out twice: one of the two holders'
//! patterns would be overwritten and its check fail. The walks must have taken blocks, each
//! after one barrier. A process of its own, with the system allocator as the test's global
//! allocator.

mod common;

use common::*;
use sacs::options::{self, Opt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const OWNERS: u64 = 3;
const SIZES: [usize; 4] = [64 * KIB, 96 * KIB, 128 * KIB, 192 * KIB];
/// Blocks an owner holds at most.
const HELD_MAX: usize = 6;
const RUN: Duration = Duration::from_millis(1500);

/// Frees and takes blocks until `stop`, checking each block before its free.
fn owner(id: u64, stop: Arc<AtomicBool>) -> u64 {
    let mut r = Rng::new(id + 11);
    let mut held: Vec<Held> = Vec::new();
    let mut tag = id << 40;
    let mut rounds = 0;
    while !stop.load(Ordering::Relaxed) {
        if held.len() == HELD_MAX || (!held.is_empty() && r.chance(50)) {
            let h = held.swap_remove(r.below(held.len()));
            check_and_free(h, "an owner's big block");
        } else {
            tag += 1;
            held.push(alloc_filled(SIZES[r.below(SIZES.len())], tag));
        }
        if r.chance(2) {
            thread::sleep(Duration::from_micros(r.range(0, 3000) as u64));
        }
        rounds += 1;
    }
    held.into_iter()
        .for_each(|h| check_and_free(h, "an owner's last blocks"));
    rounds
}

#[test]
fn walks_take_cached_blocks_while_their_owners_use_the_cache() {
    options::set(Opt::HotMs, 2);
    let stop = Arc::new(AtomicBool::new(false));
    let owners: Vec<_> = (0..OWNERS)
        .map(|id| {
            let stop = stop.clone();
            thread::spawn(move || owner(id, stop))
        })
        .collect();
    let purger = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut purges = 0u64;
            while !stop.load(Ordering::Relaxed) {
                sacs::purge();
                purges += 1;
                thread::sleep(Duration::from_micros(300));
            }
            purges
        })
    };
    let start = Instant::now();
    while start.elapsed() < RUN {
        // Larger than a thread's cache keeps: always the slow path.
        let h = alloc_filled(512 * KIB, 7);
        check_and_free(h, "the main thread's big block");
        thread::sleep(Duration::from_micros(500));
    }
    stop.store(true, Ordering::Relaxed);
    let rounds: u64 = owners.into_iter().map(|o| o.join().unwrap()).sum();
    let purges = purger.join().unwrap();
    let s = sacs::stats();
    let barriers = s.syscalls[sacs::Syscall::Membarrier as usize];
    assert!(
        rounds > 1000 && purges > 100,
        "too little ran: {rounds} owner rounds, {purges} purges"
    );
    assert!(
        barriers.calls > 0 && barriers.failures == 0,
        "walks without their barrier: {} calls, {} failures",
        barriers.calls,
        barriers.failures
    );
    assert!(
        s.big_cache_taken_idle > 0,
        "no walk took a block from an owner's cache ({rounds} owner rounds, {purges} purges)"
    );
}
