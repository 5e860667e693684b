//! The heap profile (`SACS_PROFILE`) through the C entry that the preload library's `malloc`
//! takes when sampling is on (`c_api::malloc_at_profiled`), with made-up call sites and every
//! allocation sampled: the report ranks the sites by live bytes, allocated bytes and
//! fragmentation cost as their allocations say it must, follows frees, and names what it cannot
//! symbolise by its address.
//!
//! One test function: the options and the profile are process-wide, and this file is its own
//! process.

use std::ffi::c_void;
use std::thread;
use std::time::Duration;

use sacs::c_api::{free, malloc, malloc_at_profiled};
use sacs::options::{self, Opt};

/// Survivors of 64 B among short-lived blocks of 64 B (from `CHURN_64`): fragmentation.
const KEEP_64: usize = 0x1000;
/// Short-lived blocks of 128 B, many: the most allocated bytes, nothing live.
const CHURN_128: usize = 0x2000;
/// Survivors of 1 KiB, alone in their class: the most live bytes, no fragmentation.
const KEEP_1K: usize = 0x3000;
/// Short-lived blocks of 64 B.
const CHURN_64: usize = 0x4000;
const SHORT_MS: usize = 40;

fn keep(site: usize, size: usize, n: usize, into: &mut Vec<usize>) {
    for _ in 0..n {
        let p = malloc_at_profiled(size, site);
        assert!(!p.is_null());
        // SAFETY: a new block of `size` bytes.
        unsafe { std::ptr::write_bytes(p as *mut u8, 0xAB, size) };
        into.push(p as usize);
    }
}

fn churn(site: usize, size: usize, n: usize) {
    for _ in 0..n {
        let p = malloc_at_profiled(size, site);
        assert!(!p.is_null());
        // SAFETY: from malloc, freed once.
        unsafe { free(p) };
    }
}

fn report() -> String {
    let mut buf = vec![0u8; 16 * 1024];
    let n = sacs::write_profile(&mut buf);
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// The rows of the table headed `top sites by <what>`: each row's last field (the site, here
/// an address) and its whole text.
fn table(report: &str, what: &str) -> Vec<(String, String)> {
    let title = format!("top sites by {what}");
    let mut lines = report.lines().skip_while(|l| l.trim() != title);
    assert!(lines.next().is_some(), "no table {title:?} in\n{report}");
    lines
        .skip(1) // the column header
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            (
                l.split_whitespace().last().unwrap().to_string(),
                l.to_string(),
            )
        })
        .collect()
}

fn sites(rows: &[(String, String)]) -> Vec<&str> {
    rows.iter().map(|(s, _)| s.as_str()).collect()
}

/// The `i`-th number of a row (0: samples, 1: live, 2: short, 3: long), after the three
/// byte columns.
fn count(row: &str, i: usize) -> u64 {
    let fields: Vec<&str> = row.split_whitespace().collect();
    // Three byte columns, each a number and a unit.
    fields[6 + i].parse().unwrap()
}

#[test]
fn the_profile_ranks_sites_by_live_allocated_and_fragmenting_bytes() {
    // Every allocation sampled (the scale is 1, so estimates are the sampled bytes); the heap
    // reads the interval when it is made, so the work runs on a new thread.
    options::set(Opt::ProfileSampleEvery, 1);
    options::set(Opt::SitesShortMs, SHORT_MS);
    options::set(Opt::Profile, 1);
    thread::spawn(|| {
        // A class's first allocation on a new heap refills its page and is not sampled: take
        // it through the plain entry.
        for size in [64, 128, 1024] {
            // SAFETY: from malloc, freed once.
            unsafe { free(malloc(size)) };
        }
        let mut kept_64 = Vec::new();
        let mut kept_1k = Vec::new();
        for _ in 0..3 {
            keep(KEEP_64, 64, 100, &mut kept_64); // 300 x 64 B = 19,200 B live
            churn(CHURN_64, 64, 200); // 600 x 64 B = 38,400 B, all short-lived
            churn(CHURN_128, 128, 1000); // 3,000 x 128 B = 384,000 B, all short-lived
        }
        keep(KEEP_1K, 1024, 50, &mut kept_1k); // 51,200 B live
                                               // Past the short-lived threshold (and its epoch granule), the kept blocks are long-lived.
        thread::sleep(Duration::from_millis(SHORT_MS as u64 * 2));

        let text = report();
        assert!(text.starts_with("sacs heap profile: 4 sites"), "{text}");
        assert!(text.contains("x 1 (SACS_PROFILE_SAMPLE_EVERY)"), "{text}");
        let live = table(&text, "live bytes");
        let alloc = table(&text, "allocated bytes");
        let frag = table(&text, "fragmentation cost");
        assert_eq!(sites(&live), ["0x3000", "0x1000"], "{text}");
        assert_eq!(
            sites(&alloc),
            ["0x2000", "0x3000", "0x4000", "0x1000"],
            "{text}"
        );
        assert_eq!(
            sites(&frag),
            ["0x1000"],
            "only the 64 B survivors sit among dying blocks of their size\n{text}"
        );
        let row = &live[1].1;
        assert_eq!(
            (count(row, 0), count(row, 1), count(row, 2), count(row, 3)),
            (300, 300, 0, 300),
            "{row}"
        );
        assert!(row.contains(" long "), "{row}");
        assert!(row.contains("18.7 KiB"), "19,200 B live: {row}");
        assert!(alloc[0].1.contains(" short "), "{}", alloc[0].1);
        // frag = 19,200 B x 600 short / (600 short + 300 long) = 12,800 B = 12.5 KiB.
        assert!(frag[0].1.contains("12.5 KiB"), "{}", frag[0].1);

        // Frees: half of the 64 B survivors go (long-lived when freed), all of the 1 KiB ones.
        for &p in &kept_64[..150] {
            // SAFETY: live blocks, freed once.
            unsafe { free(p as *mut c_void) };
        }
        for &p in &kept_1k {
            // SAFETY: live blocks, freed once.
            unsafe { free(p as *mut c_void) };
        }
        let text = report();
        let live = table(&text, "live bytes");
        assert_eq!(sites(&live), ["0x1000"], "{text}");
        let row = &live[0].1;
        assert_eq!(
            (count(row, 0), count(row, 1), count(row, 2), count(row, 3)),
            (300, 150, 0, 300),
            "{row}"
        );
        assert!(row.contains("9.3 KiB"), "9,600 B live: {row}");
        let alloc = table(&text, "allocated bytes");
        assert_eq!(
            sites(&alloc),
            ["0x2000", "0x3000", "0x4000", "0x1000"],
            "{text}"
        );
        for &p in &kept_64[150..] {
            // SAFETY: live blocks, freed once.
            unsafe { free(p as *mut c_void) };
        }
        let text = report();
        assert!(text.contains("top sites by live bytes: none"), "{text}");
    })
    .join()
    .unwrap();
}
