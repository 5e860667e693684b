//! A big arena's pass (the Hot / Warm / Cold walk over its cached blocks and segments) runs
//! when something it holds is due, not at every purge look: a program that keeps making slow
//! calls while a cached block is still hot makes no pass, and the block still takes its warm
//! step once it has gone unused for `SACS_HOT_MS`. Before, every look passed over every arena
//! whose lock was free, every 10 ms, each pass reading its class lists; a thread waking to a
//! job paid those lines cold. The defaults are used on purpose. A process of its own: the
//! counters are process-wide.

mod common;

use common::rss::stats_table;
use common::*;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A request above the thread cache's bound: it goes to the arena at every call, and the
/// allocation's slow path runs the purge looks when they are due.
const ARENA_BLOCK: usize = 300 * KIB;

/// One request of [`ARENA_BLOCK`] bytes, written, checked and freed, then a 2 ms sleep.
fn slow_call(round: u8) {
    let p = sacs::alloc(ARENA_BLOCK, 16);
    assert!(!p.is_null());
    // SAFETY: a live block of ARENA_BLOCK bytes, freed once.
    unsafe {
        p.write_bytes(round, ARENA_BLOCK);
        assert_eq!(*p.add(ARENA_BLOCK - 1), round);
        sacs::free(p);
    }
    sleep(Duration::from_millis(2));
}

#[test]
fn an_arena_passes_over_its_cache_only_when_something_is_due() {
    watchdog(120, "arena_passes_when_due");
    let hot = sacs::options::get(sacs::options::Opt::HotMs) as u64;
    let purge_delay = sacs::options::get(sacs::options::Opt::PurgeDelayMs) as u64;
    assert!(
        hot >= 50 && purge_delay * 4 <= hot,
        "written for the defaults (hot {hot} ms, purge delay {purge_delay} ms)"
    );
    // One block of 1 MiB, cached by its arena at its free.
    let p = sacs::alloc(MIB, 16);
    assert!(!p.is_null());
    // SAFETY: a live block of 1 MiB, freed once.
    unsafe {
        p.write_bytes(7, MIB);
        sacs::free(p);
    }
    let freed = Instant::now();
    let before = sacs::stats();
    // For most of the hot delay, slow calls every 2 ms: each may make a purge look (every
    // half purge delay), and nothing the arena holds is due.
    let mut calls = 0;
    while freed.elapsed() < Duration::from_millis(hot * 6 / 10) {
        slow_call(calls as u8);
        calls += 1;
    }
    let during = sacs::stats();
    assert!(
        calls >= 5,
        "only {calls} calls in {} ms: too slow a machine to tell",
        hot * 6 / 10
    );
    assert_eq!(
        during.big_arena_passes,
        before.big_arena_passes,
        "{calls} calls while every cached block was hot made arena passes\n{}",
        stats_table()
    );
    // Past the hot delay (and the calls' own blocks' too), the first block takes its warm step
    // at a look soon after.
    while freed.elapsed() < Duration::from_millis(hot * 3) {
        slow_call(calls as u8);
        calls += 1;
        if sacs::stats().big_cache_warmed > before.big_cache_warmed {
            break;
        }
    }
    let after = sacs::stats();
    assert!(
        after.big_cache_warmed > before.big_cache_warmed,
        "no warm step {} ms after the free\n{}",
        freed.elapsed().as_millis(),
        stats_table()
    );
    assert!(after.big_arena_passes > during.big_arena_passes);
}
