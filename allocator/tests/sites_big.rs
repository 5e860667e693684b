//! Site Rules for big blocks (`site::big`), through the C entry the preload library's `malloc`
//! takes with `SACS_SITES=on` (`c_api::malloc_at_placed`), with made-up call sites: a site that
//! asks again only after its freed blocks would have gone cold is learned one-shot, and its
//! blocks are then decommitted at their free (committed memory falls at once); a site that
//! reuses at once is learned kept, and its blocks stay cached. Contents survive throughout.
//!
//! One test function: the options and the statistics are process-wide, and this file is its
//! own process.

use std::ffi::c_void;
use std::thread;
use std::time::Duration;

use sacs::c_api::{free, malloc_at_placed};
use sacs::options::{self, Opt};

const LATE_SITE: usize = 0x6666_0000_1010;
const BUSY_SITE: usize = 0x6666_0000_2020;
/// `SACS_WARM_MS` for this test: short, so that pauses longer than it are short too.
const WARM_MS: usize = 40;
/// Blocks of 1 MiB: big blocks, below the whale threshold.
const SIZE: usize = 1 << 20;
/// Blocks a late round takes at once.
const BURST: usize = 4;

fn alloc(site: usize, tag: u8) -> *mut c_void {
    let p = malloc_at_placed(SIZE, site);
    assert!(!p.is_null());
    // SAFETY: a live block of `SIZE` bytes.
    unsafe { std::ptr::write_bytes(p as *mut u8, tag, SIZE) };
    p
}

fn check_and_free(p: *mut c_void, tag: u8) {
    // SAFETY: a live block of `SIZE` bytes, freed once.
    unsafe {
        let bytes = std::slice::from_raw_parts(p as *const u8, SIZE);
        assert!(
            bytes.iter().all(|&b| b == tag),
            "a block's contents changed"
        );
        free(p);
    }
}

/// One round of the late site: a burst of blocks, written, checked and freed. Returns how much
/// committed memory fell between the last block's free and just after it.
fn late_round(tag: u8) -> usize {
    let blocks: Vec<_> = (0..BURST).map(|_| alloc(LATE_SITE, tag)).collect();
    let before = sacs::stats().committed_bytes;
    for p in blocks {
        check_and_free(p, tag);
    }
    before.saturating_sub(sacs::stats().committed_bytes)
}

#[test]
fn late_sites_give_big_blocks_back_at_free_and_busy_ones_keep_them() {
    options::set(Opt::Sites, 1);
    options::set(Opt::WarmMs, WARM_MS);
    options::set(Opt::HotMs, WARM_MS / 2);

    // Learning: the late site asks again 3 warm periods after its frees.
    for round in 0..6u8 {
        late_round(round + 1);
        thread::sleep(Duration::from_millis(3 * WARM_MS as u64));
    }
    let learned = sacs::stats();
    assert!(
        learned.site_big_allocs >= 6 * BURST as u64,
        "big allocations seen: {}",
        learned.site_big_allocs
    );
    // Now one-shot: a round's frees give its memory back before the free returns.
    let fell = late_round(9);
    let after = sacs::stats();
    assert!(
        after.site_big_released >= learned.site_big_released + BURST as u64,
        "one-shot frees: {} then {}",
        learned.site_big_released,
        after.site_big_released
    );
    assert!(
        fell >= BURST * SIZE,
        "committed memory fell by {fell} bytes at the frees, not {}",
        BURST * SIZE
    );
    assert!(
        after.site_big_right > 0,
        "the late site's gaps agreed with its one-shot policy"
    );

    // The busy site reuses at once: learned kept, its blocks cached, none released at free.
    let start = sacs::stats();
    let (released, kept) = (start.site_big_released, start.site_big_kept);
    for round in 0..200u32 {
        let tag = (round % 250) as u8 + 1;
        let p = alloc(BUSY_SITE, tag);
        check_and_free(p, tag);
    }
    let busy = sacs::stats();
    assert_eq!(
        busy.site_big_released, released,
        "a busy site's blocks are never released at free"
    );
    assert!(
        busy.site_big_kept >= kept + 150,
        "a busy site's blocks are marked kept: {} of 200",
        busy.site_big_kept - kept
    );
    assert!(
        busy.big_cache_hits - start.big_cache_hits >= 150,
        "a busy site's blocks are reused from a cache"
    );
}
