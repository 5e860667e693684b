//! Resident memory falls when the survivors of a phase are scattered over its pages (holes,
//! `page::holes`): 64 MiB of 1 KiB and 3 KiB blocks, of which one in 16 is kept, spread evenly,
//! so that no page empties. After `sacs::purge()` the free system pages between the survivors
//! are given back; the survivors keep their contents; allocating the same again reuses the
//! holes (the statistics count them filled) and every block, old and new, is intact. The system
//! allocator stays this binary's global allocator (only the test's own blocks are SACS's), and
//! it is a process of its own so that nothing freed earlier blurs the measurement.

mod common;

use common::*;
use sacs::options::{self, Opt};

const MIB: usize = 1 << 20;
/// One block in this many is kept.
const KEEP_EVERY: usize = 16;

/// A block of `len` bytes filled with `tag`'s pattern.
fn filled(len: usize, tag: u64) -> *mut u8 {
    let p = sacs::alloc(len, 16);
    assert!(!p.is_null());
    // SAFETY: a live block of `len` bytes.
    unsafe { core::ptr::copy_nonoverlapping(pattern(tag, len).as_ptr(), p, len) };
    p
}

fn intact(p: *mut u8, len: usize, tag: u64) -> bool {
    // SAFETY: a live block of `len` bytes.
    unsafe { core::slice::from_raw_parts(p, len) == pattern(tag, len) }
}

#[test]
fn free_system_pages_between_survivors_are_given_back_and_reused() {
    // Delays so long that only purge() punches holes within this test.
    options::set(Opt::PurgeDelayMs, 3_600_000);
    let sizes = [1024usize, 3072];
    let base = rss();
    let mut kept = Vec::new();
    let mut freed = 0;
    for (s, &len) in sizes.iter().enumerate() {
        let n = 32 * MIB / len;
        let blocks: Vec<*mut u8> = (0..n).map(|i| filled(len, (s * n + i) as u64)).collect();
        for (i, p) in blocks.into_iter().enumerate() {
            if i % KEEP_EVERY == 0 {
                kept.push((p, len, (s * n + i) as u64));
            } else {
                // SAFETY: from sacs::alloc, freed once.
                unsafe { sacs::free(p) };
                freed += len;
            }
        }
    }
    let before = rss();
    let punched = sacs::stats().holes_punched;
    sacs::purge();
    let after = rss();
    let stats = sacs::stats();
    assert!(
        stats.holes_punched > punched,
        "purge() punched no hole ({} before)",
        stats.holes_punched
    );
    // Without holes nothing falls (every page keeps survivors); with them most of the freed
    // memory goes: a 1 KiB block in 16 keeps one system page in 4, a 3 KiB one in 16 about
    // one in 7 (its pages shared with neighbours). Asked: at least half of what was freed.
    let fell = before.saturating_sub(after);
    assert!(
        fell >= freed / 2,
        "RSS fell {} MiB of {} MiB freed (base {} MiB, before purge {} MiB, after {} MiB); {} system pages punched",
        fell / MIB,
        freed / MIB,
        base / MIB,
        before / MIB,
        after / MIB,
        stats.holes_punched - punched
    );
    for &(p, len, tag) in &kept {
        assert!(intact(p, len, tag), "a survivor of {len} B changed");
    }
    // The same again: the pages' holes are filled before new pages are taken.
    let filled_before = stats.holes_filled;
    let again: Vec<(*mut u8, usize, u64)> = sizes
        .iter()
        .flat_map(|&len| (0..16 * MIB / len).map(move |i| (len, i)))
        .map(|(len, i)| (filled(len, 1 << 40 | i as u64), len, 1 << 40 | i as u64))
        .collect();
    let filled = sacs::stats().holes_filled - filled_before;
    assert!(filled > 0, "no hole was filled by the new blocks");
    for &(p, len, tag) in kept.iter().chain(&again) {
        assert!(
            intact(p, len, tag),
            "a block of {len} B changed after the holes were filled"
        );
    }
    let all = kept
        .iter()
        .chain(&again)
        .map(|&(p, len, _)| (p as usize, len));
    assert_disjoint(
        all.collect(),
        "survivors and the blocks that filled the holes",
    );
    for (p, _, _) in kept.into_iter().chain(again) {
        // SAFETY: from sacs::alloc, freed once.
        unsafe { sacs::free(p) };
    }
}
