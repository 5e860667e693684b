//! Big blocks freed by threads that then wait (workers of a pool between jobs) do not stay
//! resident in those threads' own caches: 8 workers each take eight blocks of 192 and 240 KiB
//! (four of each of two classes: what a thread's cache keeps), write them, free them (into
//! their own caches) and block on a channel, making no call to SACS. The main thread then
//! sleeps past `SACS_HOT_MS` and makes one big allocation (a slow path: the shared purge look
//! walks the idle threads' caches and gives their aged blocks to the arenas), sleeps past
//! `SACS_WARM_MS` and makes another (the arenas' pass decommits them). Before the shared look
//! took blocks out of other threads' caches, the 13.5 MiB stayed resident for as long as the
//! workers waited. The defaults are used on purpose. A process of its own, with the system
//! allocator as the test's global allocator.

mod common;

use common::rss::stats_table;
use common::*;
use std::sync::mpsc;
use std::time::Duration;

const WORKERS: usize = 8;
/// Sizes of two big classes a thread's cache keeps (at most `big::local::LOCAL_BLOCK_MAX`,
/// 256 KiB), and the blocks of each a worker takes (as many as the cache keeps per class):
/// 64 blocks in all, what one walk of the shared purge look takes at most.
const SIZES: [usize; 2] = [192 * KIB, 240 * KIB];
const PER_SIZE: usize = 4;
const BLOCKS: usize = SIZES.len() * PER_SIZE;

/// A big allocation of `size` and its free on the calling thread: a slow path (no block of
/// that size in the thread's own cache) that runs the shared purge look when it is due.
fn big_call(size: usize) {
    let p = sacs::alloc(size, 8);
    assert!(!p.is_null());
    // SAFETY: from sacs::alloc, freed once.
    unsafe { sacs::free(p) };
}

#[test]
fn idle_threads_cached_big_blocks_go_back() {
    let hot = sacs::options::get(sacs::options::Opt::HotMs) as u64;
    let warm = sacs::options::get(sacs::options::Opt::WarmMs) as u64;
    let base = rss();
    let taken_before = sacs::stats().big_cache_taken_idle;
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut wakes = Vec::new();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (wake_tx, wake_rx) = mpsc::channel::<()>();
        let done_tx = done_tx.clone();
        wakes.push(wake_tx);
        workers.push(std::thread::spawn(move || {
            let mut blocks = Vec::new();
            for k in 0..BLOCKS {
                let size = SIZES[k % SIZES.len()];
                let p = sacs::alloc(size, 8);
                assert!(!p.is_null());
                // SAFETY: p holds size bytes.
                unsafe { std::ptr::write_bytes(p, 0x40 + w as u8, size) };
                blocks.push((p, size));
            }
            for (p, size) in blocks {
                // SAFETY: written above.
                assert_eq!(unsafe { *p.add(size - 1) }, 0x40 + w as u8);
                // SAFETY: a live block, freed once.
                unsafe { sacs::free(p) };
            }
            done_tx.send(()).unwrap();
            // Idle until the test is over: no call to SACS meanwhile.
            wake_rx.recv().unwrap();
        }));
    }
    for _ in 0..WORKERS {
        done_rx.recv().unwrap();
    }
    let held = rss();
    let bytes = WORKERS * PER_SIZE * SIZES.iter().sum::<usize>();
    assert!(
        held >= base + bytes * 9 / 10,
        "the workers' blocks are not resident: {} MiB over a base of {} MiB",
        (held - base) / MIB,
        base / MIB
    );
    std::thread::sleep(Duration::from_millis(hot + 50));
    big_call(MIB + 64 * KIB);
    let taken = sacs::stats().big_cache_taken_idle - taken_before;
    std::thread::sleep(Duration::from_millis(warm + 50));
    big_call(2 * MIB - 64 * KIB);
    let after = rss();
    assert!(
        taken >= (WORKERS * BLOCKS) as u64,
        "the shared purge look took {taken} blocks out of the idle workers' caches, not all {}\n{}",
        WORKERS * BLOCKS,
        stats_table()
    );
    assert!(
        after <= base + bytes / 4,
        "with {WORKERS} workers idle for {} ms, RSS is {} MiB over the base (the workers freed \
         {} MiB; {} MiB over the base before the wait)\n{}",
        hot + warm + 100,
        (after.saturating_sub(base)) / MIB,
        bytes / MIB,
        (held - base) / MIB,
        stats_table()
    );
    for wake in wakes {
        wake.send(()).unwrap();
    }
    for worker in workers {
        worker.join().unwrap();
    }
}
