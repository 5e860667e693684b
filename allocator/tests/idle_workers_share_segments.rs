//! Small memory freed by a worker that then waits (a pool's workers between jobs) serves the
//! next worker: 8 workers take turns at jobs of 20,000 small objects (16 – 512 B, about 5 MiB,
//! written and checked, then freed), one job at a time with a pause between jobs, and each
//! blocks between its turns, making no call to SACS. A job's segments go to the segment cache
//! as it ends (with the warm-pool pages left in them), so the jobs run in the same few
//! segments: SACS maps about what one job needs, not that much per worker; and once the
//! cache's purge delay has learnt the pause, the last round's jobs fault almost nothing in.
//! Before, each waiting worker kept the segments of its last job (its warm pool's pages lay in
//! them), and its next job purged them and faulted them back. A process of its own, with the
//! system allocator as the test's global allocator (the channels' nodes are not SACS's).

mod common;

use common::rss::stats_table;
use common::*;
use std::sync::mpsc;
use std::time::Duration;

const WORKERS: usize = 8;
const ROUNDS: usize = 4;
const OBJECTS: usize = 20_000;
/// Between one job's end and the next one's start (a worker waits 8 times this).
const PAUSE: Duration = Duration::from_millis(20);

/// Minor page faults of the calling thread so far.
fn thread_faults() -> u64 {
    // SAFETY: a zeroed rusage is valid; getrusage only writes it.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage.ru_minflt as u64
    }
}

/// One job: `OBJECTS` small blocks allocated and written, checked and freed in that order.
/// Returns the page faults the thread took meanwhile and the bytes it allocated.
fn job(rng: &mut Rng, tag: u8) -> (u64, usize) {
    let faults = thread_faults();
    let mut blocks = Vec::with_capacity(OBJECTS);
    let mut bytes = 0;
    for _ in 0..OBJECTS {
        let size = rng.range(16, 513);
        let p = sacs::alloc(size, 8);
        assert!(!p.is_null());
        // SAFETY: p holds size bytes.
        unsafe { std::ptr::write_bytes(p, tag, size) };
        blocks.push((p, size));
        bytes += size;
    }
    for (p, size) in blocks {
        // SAFETY: written above, freed once below.
        unsafe {
            assert_eq!(*p, tag);
            assert_eq!(*p.add(size - 1), tag);
            sacs::free(p);
        }
    }
    (thread_faults() - faults, bytes)
}

#[test]
fn a_waiting_workers_segments_serve_the_next_worker() {
    watchdog(120, "idle_workers_share_segments");
    let before = sacs::stats();
    let (done_tx, done_rx) = mpsc::channel::<(u64, usize)>();
    let mut starts = Vec::new();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (start_tx, start_rx) = mpsc::channel::<()>();
        let done_tx = done_tx.clone();
        starts.push(start_tx);
        workers.push(std::thread::spawn(move || {
            let mut rng = Rng::new(w as u64 + 1);
            while start_rx.recv().is_ok() {
                done_tx.send(job(&mut rng, 0x30 + w as u8)).unwrap();
            }
        }));
    }
    let mut faults = Vec::new();
    let mut job_bytes = 0;
    for round in 0..ROUNDS {
        for start in &starts {
            start.send(()).unwrap();
            let (f, bytes) = done_rx.recv().unwrap();
            if round == ROUNDS - 1 {
                faults.push(f);
            }
            job_bytes = job_bytes.max(bytes);
            std::thread::sleep(PAUSE);
        }
    }
    let after = sacs::stats();
    drop(starts);
    for worker in workers {
        worker.join().unwrap();
    }
    let mapped = after.segments_mapped - before.segments_mapped;
    let segment = 4 * MIB;
    // A job's blocks fill about 1.3 x their bytes of pages (class rounding, each class's last
    // page part-used), in segments of 63 usable 64 KiB slices: 2 - 3 segments.
    let one_job = (job_bytes * 3 / 2).div_ceil(segment * 63 / 64);
    assert!(
        mapped <= 2 * one_job as u64,
        "{WORKERS} workers taking turns mapped {mapped} segments: more than twice the {one_job} \
         one job needs (unpinned {})\n{}",
        after.segments_unpinned - before.segments_unpinned,
        stats_table()
    );
    assert!(after.segments_unpinned > before.segments_unpinned);
    faults.sort_unstable();
    let median = faults[faults.len() / 2];
    let job_pages = (job_bytes / page_size()) as u64;
    assert!(
        median * 4 <= job_pages,
        "the last round's jobs took {faults:?} page faults (median {median}), for about \
         {job_pages} pages of blocks each: the segments the last worker left were purged before \
         the next one took them\n{}",
        stats_table()
    );
}
