//! The whale ring's byte budget follows the live whale footprint: with 400 MiB of whales live
//! the ring keeps 100 MiB of freed ones (25 %, far above the 32 MiB floor), so freeing ten
//! 10 MiB whales evicts none, and they come back with no `mmap`; once nothing is live and the
//! footprint has decayed (halved at each look at the ring), the budget is back at its floor, and the
//! ring never holds more than its budget. A process of its own (one test).

mod common;

use common::rss::stats_table;
use common::*;
use sacs::options::{self, Opt};
use std::time::Duration;

fn mmaps() -> u64 {
    sacs::stats().syscalls[sacs::Syscall::Mmap as usize].calls
}

#[test]
fn the_ring_budget_follows_the_live_whales() {
    // The defaults this test is written for, stated; nothing is unmapped for age (WARM is a
    // minute), and the ring is not looked at (every 30 s, half of HOT) until the decay below,
    // so that a slow (debug, loaded) run does not age the footprint while the whales are live.
    options::set(Opt::WhaleRing, 16);
    options::set(Opt::WhaleRingMib, 32);
    options::set(Opt::WhaleRingPercent, 25);
    options::set(Opt::WhaleRingMaxMib, 1024);
    options::set(Opt::WhaleWastePercent, 25);
    options::set(Opt::HotMs, 60_000);
    options::set(Opt::WarmMs, 60_000);

    let whales: Vec<*mut u8> = (0..40)
        .map(|i| {
            let p = sacs::alloc(10 * MIB, 16);
            assert!(!p.is_null());
            // SAFETY: a live 10 MiB block.
            unsafe { std::ptr::write_bytes(p, i as u8, 10 * MIB) };
            p
        })
        .collect();
    let s = sacs::stats();
    assert!(
        s.whale_ring_budget >= 100 * MIB,
        "with 400 MiB of whales live the budget is {} MiB\n{}",
        s.whale_ring_budget / MIB,
        stats_table()
    );

    // Ten of them freed: all stay in the ring (a constant 32 MiB budget would keep three).
    let evictions = s.whale_ring_evictions;
    for &p in &whales[..10] {
        // SAFETY: live, freed once.
        unsafe { sacs::free(p) };
    }
    let s = sacs::stats();
    assert_eq!(s.whale_ring_evictions, evictions, "{}", stats_table());
    assert!(s.whale_ring_bytes >= 100 * MIB, "{}", stats_table());
    assert!(s.whale_ring_bytes <= s.whale_ring_budget);

    // And they serve ten new whales with no mmap.
    let maps = mmaps();
    let again: Vec<*mut u8> = (0..10)
        .map(|i| {
            let p = sacs::alloc(10 * MIB, 16);
            // SAFETY: a live 10 MiB block.
            unsafe { std::ptr::write_bytes(p, 0x80 | i as u8, 10 * MIB) };
            p
        })
        .collect();
    assert_eq!(mmaps(), maps, "{}", stats_table());
    for (k, &p) in whales[10..].iter().enumerate() {
        // SAFETY: live; its last byte was written above.
        assert_eq!(unsafe { *p.add(10 * MIB - 1) }, (k + 10) as u8);
    }

    // Everything freed: the ring keeps at most its budget, which falls back to the floor as
    // the footprint decays (halved at each look).
    for &p in whales[10..].iter().chain(&again) {
        // SAFETY: live, freed once.
        unsafe { sacs::free(p) };
    }
    let s = sacs::stats();
    assert!(
        s.whale_ring_bytes <= s.whale_ring_budget,
        "{}",
        stats_table()
    );
    // From here the ring is looked at every 150 ms (half of HOT): a forced look (the purge,
    // which also empties the ring) sets its next look by the new interval.
    options::set(Opt::HotMs, 300);
    sacs::purge();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(60));
        // A whale operation looks at the ring: allocate and free a small whale.
        let p = sacs::alloc(2 * MIB, 16);
        // SAFETY: from sacs::alloc.
        unsafe { sacs::free(p) };
    }
    let s = sacs::stats();
    assert_eq!(
        s.whale_ring_budget,
        32 * MIB,
        "with nothing live the budget decays to its floor\n{}",
        stats_table()
    );
    assert!(s.whale_ring_bytes <= 32 * MIB, "{}", stats_table());
    sacs::purge();
    assert_eq!(sacs::stats().whale_ring_bytes, 0);
}
