//! Thread churn: thousands of short-lived threads, in waves, that allocate and free; some exit
//! still holding blocks, which the main thread frees afterwards (frees into pages whose owner
//! has exited: abandoned, then adopted). Heaps must be retired as threads exit, and resident
//! memory must stay bounded. SACS is also the global allocator of this binary.

mod common;

use common::*;
use sacs::Sacs;
use std::thread;

#[global_allocator]
static GLOBAL: Sacs = Sacs;

/// The tests measure memory; they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Held(Vec<(usize, usize, u64)>);

fn worker(id: usize) -> Held {
    let mut r = Rng::new(id as u64);
    let mut mine = Vec::new();
    for i in 0..200 {
        let size = match r.below(100) {
            0..=79 => r.range(1, 1024),
            80..=97 => r.range(1025, 32 * KIB),
            _ => r.range(32 * KIB + 1, 256 * KIB),
        };
        let p = sacs::alloc(size, 16);
        assert!(!p.is_null());
        let tag = (id as u64) << 20 | i;
        // SAFETY: size bytes.
        unsafe { fill(p, size, tag) };
        mine.push((p as usize, size, tag));
    }
    // Global-allocator traffic too (strings, vectors).
    let words: Vec<String> = (0..100).map(|i| format!("thread {id} word {i}")).collect();
    assert_eq!(words[99], format!("thread {id} word 99"));
    // Free most of it here; hand the rest (every third thread: a third of its blocks) to main.
    let keep = if id.is_multiple_of(3) {
        mine.len() / 3
    } else {
        0
    };
    let held = mine.split_off(mine.len() - keep);
    for (p, size, tag) in mine {
        // SAFETY: live block of `size` bytes with its pattern.
        unsafe {
            check(p as *const u8, size, tag, "own block");
            sacs::free(p as *mut u8);
        }
    }
    Held(held)
}

fn free_held(held: Vec<Held>) {
    for h in held {
        for (p, size, tag) in h.0 {
            // SAFETY: the exited thread handed the block over intact.
            unsafe {
                check(p as *const u8, size, tag, "block of an exited thread");
                sacs::free(p as *mut u8);
            }
        }
    }
}

#[test]
fn thousands_of_short_lived_threads() {
    watchdog(600, "thousands_of_short_lived_threads");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const WAVES: usize = 30;
    const PER_WAVE: usize = 100;
    let before = sacs::stats();
    // The mean RSS over the middle third of the waves and over the last third. The first third
    // ramps up: the purge delays adapt to the churn (memory of exited threads that the next
    // wave takes over waits longer, see `purge::abandoned_extra`), to a level that then holds,
    // with a saw-tooth as retired heaps' pages are released: means, not maxima.
    let (mut sum_middle, mut sum_last) = (0, 0);
    let mut id = 0;
    let mut previous: Vec<Held> = Vec::new();
    for wave in 0..WAVES {
        let handles: Vec<_> = (0..PER_WAVE)
            .map(|_| {
                id += 1;
                let my = id;
                thread::Builder::new()
                    .stack_size(64 * KIB)
                    .spawn(move || worker(my))
                    .expect("spawn")
            })
            .collect();
        let held: Vec<Held> = handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect();
        // Every thread of this wave has exited. What the wave before left behind stayed live
        // while this wave ran (so its pages were abandoned with live blocks, for adoption);
        // free it now from the main thread.
        free_held(std::mem::replace(&mut previous, held));
        #[cfg(feature = "validate")]
        sacs::validate();
        let now = rss();
        if wave >= WAVES * 2 / 3 {
            sum_last += now;
        } else if wave >= WAVES / 3 {
            sum_middle += now;
        }
    }
    free_held(previous);
    let after = sacs::stats();
    let threads = (WAVES * PER_WAVE) as u64;
    let retired = after.heaps_retired - before.heaps_retired;
    let created = after.heaps_created - before.heaps_created;
    assert!(
        created >= threads,
        "only {created} heaps created for {threads} allocating threads"
    );
    assert!(
        retired >= threads,
        "only {retired} heaps retired after {threads} threads exited"
    );
    let mean_middle = sum_middle / (WAVES * 2 / 3 - WAVES / 3);
    let mean_last = sum_last / (WAVES - WAVES * 2 / 3);
    let growth = mean_last.saturating_sub(mean_middle);
    // Each wave allocates ~150 MiB; memory kept per wave would add that much per wave. The delays
    // are wall-clock, so a slow (debug) build is still ramping in the middle third: up to 32 MiB
    // was seen there. 64 MiB tells a level from a leak.
    assert!(
        growth < 64 * MIB,
        "RSS grew by {} MiB from the middle third of {} waves to the last (means {} MiB, then \
         {} MiB)",
        growth / MIB,
        WAVES,
        mean_middle / MIB,
        mean_last / MIB
    );
    // What exited threads abandoned was taken over by the ones that came after.
    let abandoned = after.segments_abandoned - before.segments_abandoned;
    let adopted = after.segments_adopted - before.segments_adopted;
    assert!(
        abandoned == 0 || adopted > 0,
        "{abandoned} segments were abandoned but none adopted"
    );
}

/// A thread that exits while other threads still free into its pages: the frees must land
/// correctly, and the pages must be reusable afterwards.
#[test]
fn frees_into_pages_of_an_exited_thread() {
    watchdog(600, "frees_into_pages_of_an_exited_thread");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for round in 0..scale(20, 5) {
        let blocks: Vec<(usize, usize, u64)> = thread::spawn(move || {
            (0..5000u64)
                .map(|i| {
                    let size = [24, 100, 700, 3000, 20_000, 70_000][i as usize % 6];
                    let p = sacs::alloc(size, 8);
                    assert!(!p.is_null());
                    let tag = (round as u64) << 32 | i;
                    // SAFETY: size bytes.
                    unsafe { fill(p, size, tag) };
                    (p as usize, size, tag)
                })
                .collect()
        })
        .join()
        .unwrap();
        // Free them from two other threads at once, then from here.
        let (a, rest) = blocks.split_at(blocks.len() / 3);
        let (b, c) = rest.split_at(rest.len() / 2);
        let (a, b) = (a.to_vec(), b.to_vec());
        let ta = thread::spawn(move || free_held(vec![Held(a)]));
        let tb = thread::spawn(move || free_held(vec![Held(b)]));
        free_held(vec![Held(c.to_vec())]);
        ta.join().unwrap();
        tb.join().unwrap();
    }
}
