//! The learner on real allocations (`SACS_LEARN=1`, windows of 5 ms): a program that only makes
//! small blocks gets its small-page knobs learned and frozen, the big-block and whale knobs
//! idle; when it turns to big blocks and whales, the workload's signature moves and learning
//! re-opens, and the knobs of those tiers are learned in turn. A knob set explicitly is never
//! moved. A process of its own (one test); the system allocator stays global.

mod common;

use common::*;
use sacs::options::{self, Opt};
use sacs::KnobState;
use std::time::{Duration, Instant};

/// Knob lines of the statistics table, for failure messages.
fn table() -> String {
    common::rss::stats_table()
}

/// Runs `work` until `done(stats)` or `secs` pass; returns whether `done` held.
fn until(secs: u64, mut work: impl FnMut(), done: impl Fn(&sacs::Stats) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        work();
        if done(&sacs::stats()) {
            return true;
        }
    }
    false
}

#[test]
fn small_blocks_freeze_then_big_blocks_reopen() {
    watchdog(240, "learn_phases");
    options::set(Opt::Learn, 1);
    options::set(Opt::LearnWindowMs, 5);
    // Explicit: the learner must leave it alone.
    options::set(Opt::PrefillPages, 2);

    let mut rng = Rng::new(7);
    let mut small: Vec<*mut u8> = vec![std::ptr::null_mut(); 4096];
    let small_work = |rng: &mut Rng, small: &mut Vec<*mut u8>| {
        for _ in 0..20_000 {
            let i = rng.below(small.len());
            // SAFETY: each slot holds null or a live block from `sacs::alloc`, freed once.
            unsafe { sacs::free(small[i]) };
            let n = rng.range(8, 2048);
            let p = sacs::alloc(n, 8);
            assert!(!p.is_null());
            // SAFETY: a live block of `n` bytes.
            unsafe { p.write_bytes(1, n.min(64)) };
            small[i] = p;
        }
    };
    let frozen = |s: &sacs::Stats| {
        s.learn.frozen_windows > 0
            && s.learn.knobs.iter().all(|k| {
                matches!(
                    k.state,
                    KnobState::Frozen | KnobState::Idle | KnobState::Explicit
                )
            })
    };
    assert!(
        until(120, || small_work(&mut rng, &mut small), frozen),
        "small blocks alone: every knob frozen, idle or explicit\n{}",
        table()
    );
    let s = sacs::stats();
    let state = |i: usize| s.learn.knobs[i].state;
    // LADDERS order: purge delay, thread big cache, whale waste, warm pool, prefill, hot, warm.
    assert_eq!(state(0), KnobState::Frozen, "{}", table());
    assert_eq!(state(3), KnobState::Frozen, "{}", table());
    for i in [1, 2, 5, 6] {
        assert_eq!(state(i), KnobState::Idle, "knob {i}\n{}", table());
    }
    assert_eq!(state(4), KnobState::Explicit);
    assert_eq!(options::get(Opt::PrefillPages), 2, "an explicit knob stays");
    assert_eq!(s.learn.reopened, 0);
    for k in &s.learn.knobs[..2] {
        assert!(k.games > 0 || k.state == KnobState::Idle);
    }

    // Big blocks and whales now.
    let mut big: Vec<*mut u8> = vec![std::ptr::null_mut(); 16];
    let big_work = |rng: &mut Rng, big: &mut Vec<*mut u8>| {
        for _ in 0..50 {
            let i = rng.below(big.len());
            // SAFETY: as above.
            unsafe { sacs::free(big[i]) };
            let n = if rng.chance(20) {
                rng.range(2 * MIB, 6 * MIB)
            } else {
                rng.range(40 * 1024, 1024 * 1024)
            };
            let p = sacs::alloc(n, 16);
            assert!(!p.is_null());
            // SAFETY: a live block of `n` bytes.
            unsafe { p.write_bytes(2, 4096) };
            big[i] = p;
        }
    };
    assert!(
        until(
            120,
            || big_work(&mut rng, &mut big),
            |s| s.learn.reopened >= 1 && s.learn.knobs[1].games > 0
        ),
        "big blocks after small ones re-open learning and the big-block knobs play\n{}",
        table()
    );
    eprintln!("{}", table());
    for p in small.into_iter().chain(big) {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p) };
    }
}
