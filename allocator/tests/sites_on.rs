//! Site Rules placing blocks (`SACS_SITES=on`), through the C entry the preload library's
//! `malloc` takes then (`c_api::malloc_at_placed`), with made-up call sites: once a site is
//! learned long-lived its blocks go to pages of their own, so short-lived blocks of the same
//! size class no longer share pages with them, and the pages they leave become wholly free; a
//! site that turns long-lived half way keeps memory bounded (its pages are re-labelled); blocks
//! are ordinary blocks throughout.
//!
//! Samples are taken at the HOT path's misses, so each round runs on a new thread (a fresh
//! heap, which misses every 4 KiB of blocks carved). One test function: the options and the
//! statistics are process-wide, and this file is its own process.

use std::collections::HashSet;
use std::ffi::c_void;
use std::thread;
use std::time::Duration;

use sacs::c_api::{free, malloc_at_placed};
use sacs::options::{self, Opt};

const SHORT_SITE: usize = 0x5555_0000_1010;
const LONG_SITE: usize = 0x5555_0000_2020;
const TURNING_SITE: usize = 0x5555_0000_3030;
const SHORT_MS: usize = 150;
/// Tiny pages are 64 KiB.
const PAGE: usize = 64 << 10;

fn alloc(site: usize, size: usize, tag: u8) -> *mut c_void {
    let p = malloc_at_placed(size, site);
    assert!(!p.is_null());
    // SAFETY: a live block of `size` bytes.
    unsafe { std::ptr::write_bytes(p as *mut u8, tag, size) };
    p
}

fn check_and_free(p: *mut c_void, size: usize, tag: u8) {
    // SAFETY: a live block of `size` bytes, freed once.
    unsafe {
        let bytes = std::slice::from_raw_parts(p as *const u8, size);
        assert!(
            bytes.iter().all(|&b| b == tag),
            "a block's contents changed"
        );
        free(p);
    }
}

/// One round of a program that keeps one result per 10 temporaries: `n` short-lived blocks
/// and `n / 10` long-lived ones of the same size, interleaved; the short-lived are freed at the
/// end of the round, the long-lived returned (as addresses).
fn round(n: usize) -> (Vec<usize>, HashSet<usize>) {
    let mut short = Vec::with_capacity(n);
    let mut long = Vec::with_capacity(n / 10);
    for i in 0..n {
        short.push(alloc(SHORT_SITE, 64, 1) as usize);
        if i % 10 == 0 {
            long.push(alloc(LONG_SITE, 64, 2) as usize);
        }
    }
    let short_pages = short.iter().map(|&p| p / PAGE).collect();
    for &p in &short {
        check_and_free(p as *mut c_void, 64, 1);
    }
    (long, short_pages)
}

/// Pages of `blocks` that also held a block of `pages`, as a share (percent) of `blocks`.
fn shared_percent(blocks: &[usize], pages: &HashSet<usize>) -> usize {
    let shared = blocks
        .iter()
        .filter(|&&p| pages.contains(&(p / PAGE)))
        .count();
    shared * 100 / blocks.len().max(1)
}

#[test]
fn placement_separates_long_lived_sites_and_bounds_a_turning_site() {
    options::set(Opt::Sites, 1);
    options::set(Opt::SitesSampleEvery, 1);
    options::set(Opt::SitesShortMs, SHORT_MS);
    let mut kept: Vec<usize> = Vec::new();

    // Learning: rounds on fresh heaps; the long-lived samples are classified once past the
    // threshold, by the scan on later samples.
    for _ in 0..12 {
        let (long, _) = thread::spawn(|| round(8_000)).join().unwrap();
        kept.extend(long);
        thread::sleep(Duration::from_millis(SHORT_MS as u64 + 10));
    }
    let learned = sacs::stats();
    assert!(
        learned.site_rules_adopted >= 2,
        "rules for both sites: {} adopted ({} samples, {} short, {} long)",
        learned.site_rules_adopted,
        learned.site_samples,
        learned.site_short,
        learned.site_long
    );

    // Placing: the long-lived site's blocks no longer share pages with the short-lived site's.
    let before = sacs::stats();
    let ((long, short_pages), long_pages) = thread::spawn(|| {
        let r = round(8_000);
        // The long-lived pages are counted while their thread holds them.
        (r, sacs::stats().site_long_pages)
    })
    .join()
    .unwrap();
    let after = sacs::stats();
    let shared = shared_percent(&long, &short_pages);
    assert!(
        shared <= 10,
        "{shared} % of the long-lived blocks share a page with short-lived ones"
    );
    assert!(
        after.site_long_allocs - before.site_long_allocs >= long.len() as u64 / 2,
        "long-lived allocations were placed: {} of {}",
        after.site_long_allocs - before.site_long_allocs,
        long.len()
    );
    assert!(long_pages > 0, "long-lived pages in use");
    kept.extend(long);

    // A site that turns long-lived half way: first its blocks die young (it may earn a
    // short-lived rule), then it keeps them. Memory stays bounded by what is live.
    for _ in 0..4 {
        thread::spawn(|| {
            let blocks: Vec<usize> = (0..4_000)
                .map(|_| alloc(TURNING_SITE, 128, 3) as usize)
                .collect();
            for p in blocks {
                check_and_free(p as *mut c_void, 128, 3);
            }
        })
        .join()
        .unwrap();
    }
    let base = sacs::stats().committed_bytes;
    let held: Vec<usize> = thread::spawn(|| {
        let mut held = Vec::new();
        for _ in 0..6 {
            let mut short = Vec::new();
            for i in 0..6_000 {
                short.push(alloc(SHORT_SITE, 128, 1) as usize);
                if i % 3 == 0 {
                    held.push(alloc(TURNING_SITE, 128, 3) as usize);
                }
            }
            for p in short {
                check_and_free(p as *mut c_void, 128, 1);
            }
            thread::sleep(Duration::from_millis(SHORT_MS as u64 + 10));
        }
        held
    })
    .join()
    .unwrap();
    let live = held.len() * 128;
    let grown = sacs::stats().committed_bytes.saturating_sub(base);
    assert!(
        grown <= 3 * live + (8 << 20),
        "committed grew by {grown} bytes for {live} live bytes"
    );
    for p in held {
        check_and_free(p as *mut c_void, 128, 3);
    }
    for p in kept {
        check_and_free(p as *mut c_void, 64, 2);
    }
}
