//! Site Rules in observe mode, through the C entry that the preload library's `malloc` takes
//! when `SACS_SITES` is on (`c_api::malloc_at_sites`), with made-up call sites: a site whose
//! blocks die at once is learned short-lived, one whose blocks stay is learned long-lived, both
//! rules predict their sites' later samples, a site that changes its ways loses its rule, and
//! sampled blocks are ordinary blocks to the program (contents, `realloc`, `usable_size`), and
//! sample pages are reused rather than piled up, and go back to their segments (then to the
//! system) once empty.
//!
//! Samples are taken at the HOT path's misses (a `malloc` whose page has no free block), so a
//! site is sampled when it needs memory: the sites here hold batches of blocks, and each round
//! runs on a thread of its own, whose fresh heap misses every 4 KiB of blocks carved.
//!
//! One test function: the statistics are process-wide, and this file is its own process.

use std::collections::HashSet;
use std::ffi::c_void;
use std::thread;
use std::time::Duration;

use sacs::c_api::{free, malloc_at_sites, malloc_usable_size, realloc};
use sacs::options::{self, Opt};

const SHORT_SITE: usize = 0x5555_0000_1000;
const LONG_SITE: usize = 0x5555_0000_2000;
const TURNING_SITE: usize = 0x5555_0000_3000;
const SHORT_MS: usize = 100;

fn fill(p: *mut c_void, n: usize, tag: u8) {
    // SAFETY: `p` is a live block of at least `n` bytes.
    unsafe { std::ptr::write_bytes(p as *mut u8, tag, n) };
}

fn check(p: *mut c_void, n: usize, tag: u8) {
    // SAFETY: as above.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, n) };
    assert!(
        bytes.iter().all(|&b| b == tag),
        "a block's contents changed"
    );
}

extern "C" {
    fn mincore(addr: *mut c_void, len: usize, vec: *mut u8) -> i32;
}

/// Whether the 4 KiB page holding `addr` is resident (`mincore`).
fn is_resident(addr: usize) -> bool {
    let mut v = 0u8;
    // SAFETY: one page of a live mapping (a segment SACS keeps mapped), one byte of result.
    let rc = unsafe { mincore((addr & !4095) as *mut c_void, 4096, &mut v) };
    assert_eq!(rc, 0, "mincore failed");
    v & 1 != 0
}

/// `n` allocations of `size` from `site`, held for a moment (well under the short-lived
/// threshold) and freed.
fn churn(site: usize, size: usize, n: usize) {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let p = malloc_at_sites(size, site);
        assert!(!p.is_null());
        fill(p, size, i as u8);
        held.push(p);
    }
    for (i, &p) in held.iter().enumerate() {
        check(p, size, i as u8);
        // SAFETY: from malloc, freed once.
        unsafe { free(p) };
    }
}

/// Runs `f` on a new thread (a fresh heap, whose allocations miss as its pages are carved).
fn on_new_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::spawn(f).join().unwrap()
}

/// `n` allocations of `size` from `site`, kept.
fn keep(site: usize, size: usize, n: usize, into: &mut Vec<usize>) {
    for _ in 0..n {
        let p = malloc_at_sites(size, site);
        assert!(!p.is_null());
        fill(p, size, 0xAB);
        into.push(p as usize);
    }
}

#[test]
fn observe_mode_learns_and_predicts_lifetimes_by_site() {
    // Every miss sampled, short-lived below 100 ms. The heap reads the interval when it is
    // made: the work runs on new threads.
    options::set(Opt::SitesSampleEvery, 1);
    options::set(Opt::SitesShortMs, SHORT_MS);
    thread::spawn(|| {
        let before = sacs::stats();
        let mut kept = Vec::new();
        for _round in 0..6 {
            on_new_thread(|| churn(SHORT_SITE, 64, 2_000));
            // On a thread of their own, so that they take fresh blocks (and miss) rather than
            // the ones the short-lived site just freed.
            let mine = on_new_thread(|| {
                let mut mine = Vec::new();
                keep(LONG_SITE, 64, 1_000, &mut mine);
                mine
            });
            kept.extend(mine);
            // Long-lived samples are found by the scan on later samples, once past the
            // threshold.
            thread::sleep(Duration::from_millis(SHORT_MS as u64 + 10));
            on_new_thread(|| churn(SHORT_SITE, 64, 2_000));
        }
        let learned = sacs::stats();
        let samples = learned.site_samples - before.site_samples;
        let short = learned.site_short - before.site_short;
        let long = learned.site_long - before.site_long;
        let right = learned.site_predicted_right - before.site_predicted_right;
        let wrong = learned.site_predicted_wrong - before.site_predicted_wrong;
        assert!(samples >= 30, "sampled {samples} allocations");
        assert!(short > 0 && long > 0, "short {short}, long {long}");
        assert!(
            learned.site_rules_adopted - before.site_rules_adopted >= 2,
            "a rule for each site: {samples} samples, {short} short, {long} long"
        );
        assert!(right > 0);
        assert!(
            right * 100 >= (right + wrong) * 90,
            "prediction accuracy below 90 %: {right} right, {wrong} wrong"
        );

        // Sampled blocks are ordinary blocks: contents kept, usable size, realloc both ways.
        for &p in &kept {
            check(p as *mut c_void, 64, 0xAB);
            // SAFETY: a live block.
            assert!(unsafe { malloc_usable_size(p as *mut c_void) } >= 64);
        }
        for p in kept.iter_mut().take(100) {
            // SAFETY: a live block; the old pointer is not used after.
            let q = unsafe { realloc(*p as *mut c_void, 3000) };
            assert!(!q.is_null());
            check(q, 64, 0xAB);
            *p = q as usize;
        }
        for &p in &kept {
            // SAFETY: live blocks, freed once.
            unsafe { free(p as *mut c_void) };
        }

        // A site that switches from short- to long-lived loses its rule, then gains the other.
        let before = sacs::stats();
        for _ in 0..4 {
            on_new_thread(|| churn(TURNING_SITE, 128, 3_000));
        }
        let mut held = Vec::new();
        for _ in 0..4 {
            held.extend(on_new_thread(|| {
                let mut mine = Vec::new();
                keep(TURNING_SITE, 128, 1_000, &mut mine);
                mine
            }));
            thread::sleep(Duration::from_millis(SHORT_MS as u64 + 10));
            on_new_thread(|| churn(SHORT_SITE, 64, 1_000));
        }
        let after = sacs::stats();
        assert!(
            after.site_rules_dropped > before.site_rules_dropped,
            "the turning site's short-lived rule was dropped"
        );
        for &p in &held {
            check(p as *mut c_void, 128, 0xAB);
            // SAFETY: live blocks, freed once.
            unsafe { free(p as *mut c_void) };
        }

        // Sample pages are reused once their blocks come back: sampling every allocation, 20
        // rounds that each hold two pages' worth of samples and then free them commit no more
        // than the first round did.
        options::set(Opt::SitesSampleEvery, 1);
        churn(SHORT_SITE, 64, 10); // the next sample reads the new interval
                                   // Samples held throughout, so that the sample segment never empties: the emptied pages'
                                   // memory must then be decommitted by the purge look, not by the segment cache.
        let mut pinned = Vec::new();
        keep(LONG_SITE, 64, 2_000, &mut pinned);
        let mut committed = Vec::new();
        let released_before = sacs::stats().site_sample_pages_released;
        for _ in 0..20 {
            let mut round = Vec::new();
            keep(LONG_SITE, 64, 2_000, &mut round);
            for &p in &round {
                // SAFETY: live blocks, freed once.
                unsafe { free(p as *mut c_void) };
            }
            committed.push(sacs::stats().committed_bytes);
        }
        assert!(
            committed[19] < committed[0] + (1 << 20),
            "sample pages piled up: {} bytes committed after the first round, {} after the last",
            committed[0],
            committed[19]
        );
        // A sample page whose blocks all came back goes back to its segment (a round's samples
        // fill at least one page of their own, beyond the pinned ones' last), and a purge look
        // decommits it: one more round, noting which blocks are samples (the sample counter
        // moves at each), then every OS page of those samples, outside the pinned samples'
        // pages, is no longer resident after a purge.
        let mut round = Vec::new();
        let mut sampled = Vec::new();
        for _ in 0..2_000 {
            let samples = sacs::stats().site_samples;
            let p = malloc_at_sites(64, LONG_SITE);
            assert!(!p.is_null());
            fill(p, 64, 0xAB);
            if sacs::stats().site_samples > samples {
                sampled.push(p as usize);
            }
            round.push(p as usize);
        }
        for &p in &round {
            // SAFETY: live blocks, freed once.
            unsafe { free(p as *mut c_void) };
        }
        let released = sacs::stats().site_sample_pages_released - released_before;
        assert!(
            released >= 10,
            "only {released} emptied sample pages went back to their segments in 21 rounds"
        );
        sacs::purge();
        // Sample pages of class 64 are one 64 KiB slice each.
        let pinned_pages: HashSet<usize> = pinned.iter().map(|&p| p >> 16).collect();
        let checked: Vec<usize> = sampled
            .iter()
            .copied()
            .filter(|p| !pinned_pages.contains(&(p >> 16)))
            .collect();
        assert!(
            checked.len() >= 10,
            "too few samples outside the pinned pages to judge: {} of {}",
            checked.len(),
            sampled.len()
        );
        let resident = checked.iter().filter(|&&p| is_resident(p)).count();
        assert_eq!(
            resident,
            0,
            "{resident} of {} freed samples' pages stayed resident after a purge",
            checked.len()
        );
        for &p in &pinned {
            check(p as *mut c_void, 64, 0xAB);
            // SAFETY: live blocks, freed once.
            unsafe { free(p as *mut c_void) };
        }
    })
    .join()
    .unwrap();
}
