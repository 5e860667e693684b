//! Resident memory of small blocks falls once the program has been idle for the default delays
//! and then makes one small allocation, even when it went on freeing for a while after its
//! last page emptied: 64 MiB of small blocks (16 B – 8 KiB) are allocated, written and freed,
//! then 150 more frees follow that empty no page (blocks of one page, kept from the start), so
//! the calls for which the freeing thread was parked are used up before the pause. The thread
//! then sleeps past `SACS_WARM_MS` and makes exactly one `alloc(16)` / `free`: that call must give
//! the memory back (the heap was nudged: its current pages were put back, so the call misses the
//! HOT path and looks at purging). The defaults are used on purpose. A process of its own, with
//! the system allocator as the test's global allocator.

mod common;

use common::rss::stats_table;
use common::*;
use std::time::Duration;

#[test]
fn one_small_allocation_after_the_delay_gives_small_pages_back() {
    let warm = sacs::options::get(sacs::options::Opt::WarmMs) as u64;
    // Blocks of one size, allocated together (so on one or two pages), freed after the rest.
    let kept: Vec<*mut u8> = (0..200).map(|_| sacs::alloc(48, 8)).collect();
    let base = rss();
    let mut r = Rng::new(11);
    let mut blocks = Vec::new();
    let mut bytes = 0;
    while bytes < 64 * MIB {
        let size = if r.range(0, 9) < 8 {
            r.range(16, 512)
        } else {
            r.range(1024, 8 * KIB)
        };
        let p = sacs::alloc(size, 8);
        assert!(!p.is_null());
        // SAFETY: p holds size bytes.
        unsafe { std::ptr::write_bytes(p, 0xA7, size) };
        blocks.push(p);
        bytes += size;
    }
    let peak = rss();
    assert!(peak >= base + bytes * 8 / 10, "RSS rose too little");
    for p in blocks {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p) };
    }
    // Frees that empty no page: more than the calls a parked thread is given.
    for &p in &kept[..150] {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p) };
    }
    let held = rss();
    std::thread::sleep(Duration::from_millis(warm + 60));
    let p = sacs::alloc(16, 8);
    // SAFETY: from sacs::alloc.
    unsafe { sacs::free(p) };
    let after = rss();
    assert!(
        after <= base + (peak - base) / 4,
        "after {} ms idle and one alloc(16)/free, RSS is {} MiB (base {} MiB, peak {} MiB, before \
         the call {} MiB)\n{}",
        warm + 60,
        after / MIB,
        base / MIB,
        peak / MIB,
        held / MIB,
        stats_table()
    );
    for &p in &kept[150..] {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p) };
    }
}
