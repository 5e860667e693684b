//! Resident memory of big blocks and whales falls once the program has been idle for the
//! default delays and then makes one small call: 64 big blocks of 32 KiB – 2 MiB and four
//! 8 MiB whales (within the ring's budget) are allocated, touched and freed, a few small calls
//! follow (as a program's own bookkeeping would), then the thread sleeps past `SACS_WARM_MS`
//! and makes exactly one `alloc(16)` / `free`, which is served from the current page. SACS has
//! no background thread: that call must be the one that gives the memory back (the freeing
//! thread was parked, so its next call looks at purging). The defaults are used on purpose.
//! A process of its own, with the system allocator as the test's global allocator.

mod common;

use common::rss::stats_table;
use common::*;
use std::time::Duration;

#[test]
fn one_small_call_after_the_delay_gives_big_and_whale_memory_back() {
    let warm = sacs::options::get(sacs::options::Opt::WarmMs) as u64;
    // Warm up the small path so the later alloc(16) is a HOT-path hit.
    let warm_up = sacs::alloc(16, 8);
    let base = rss();
    let mut r = Rng::new(7);
    let mut blocks = Vec::new();
    let mut bytes = 0;
    while bytes < 48 * MIB {
        let size = r.range(32 * KIB + 1, 2 * MIB - 1);
        blocks.push((sacs::alloc(size, 8), size));
        bytes += size;
    }
    for _ in 0..4 {
        blocks.push((sacs::alloc(8 * MIB, 8), 8 * MIB));
        bytes += 8 * MIB;
    }
    for &(p, size) in &blocks {
        assert!(!p.is_null());
        // SAFETY: p holds size bytes.
        unsafe { std::ptr::write_bytes(p, 0x5C, size) };
    }
    let peak = rss();
    assert!(peak >= base + bytes * 9 / 10, "RSS rose too little");
    for (p, _) in blocks {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p) };
    }
    // A little small-block traffic after the last big free, then idle.
    for size in [24, 1000, 4000] {
        let p = sacs::alloc(size, 8);
        // SAFETY: from sacs::alloc.
        unsafe { sacs::free(p) };
    }
    let held = rss();
    std::thread::sleep(Duration::from_millis(warm + 60));
    let calls = sacs::stats().syscall_calls();
    let p = sacs::alloc(16, 8);
    // SAFETY: from sacs::alloc.
    unsafe { sacs::free(p) };
    let after = rss();
    let now_calls = sacs::stats().syscall_calls();
    assert!(
        after <= base + (peak - base) / 5,
        "after {} ms idle and one alloc(16)/free, RSS is {} MiB (base {} MiB, peak {} MiB, before \
         the call {} MiB)\n{}",
        warm + 60,
        after / MIB,
        base / MIB,
        peak / MIB,
        held / MIB,
        stats_table()
    );
    assert!(
        now_calls > calls,
        "the call made no system call: the purge did not run on it"
    );
    // SAFETY: from sacs::alloc.
    unsafe { sacs::free(warm_up) };
}
