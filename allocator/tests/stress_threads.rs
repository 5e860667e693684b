//! Multi-threaded stress: blocks allocated on one thread are filled with a pattern derived from
//! (thread, sequence number), passed through queues to other threads, verified there and freed
//! there (cross-thread frees), over the tiny, mid and big tiers with a few whales.
//! SACS is also the global allocator of this binary.

mod common;

use common::*;
use sacs::Sacs;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;

#[global_allocator]
static GLOBAL: Sacs = Sacs;

/// Tests in this file measure memory; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct Msg {
    ptr: usize,
    size: usize,
    tag: u64,
}

fn tag_of(thread: usize, seq: usize) -> u64 {
    ((thread as u64) << 40) | seq as u64
}

fn stress_size(r: &mut Rng, seq: usize) -> usize {
    if seq % 2000 == 1999 {
        return r.range(2 * MIB, 4 * MIB); // a few whales
    }
    match r.below(1000) {
        0..=699 => r.range(1, 1024),
        700..=959 => r.range(1025, 32 * KIB),
        _ => r.range(32 * KIB + 1, 512 * KIB),
    }
}

/// Verifies and frees a block that another thread made.
fn consume(m: Msg, stats: &Counts) {
    let p = m.ptr as *mut u8;
    // SAFETY: the sender allocated `size` bytes at `p`, filled them with `tag`'s pattern and
    // gave up the block when it sent the message.
    unsafe {
        assert!(
            sacs::usable_size(p) >= m.size,
            "usable_size shrank in transit"
        );
        check(p, m.size, m.tag, "received block");
        sacs::free(p);
    }
    stats.received.fetch_add(1, Ordering::Relaxed);
    stats.bytes.fetch_add(m.size as u64, Ordering::Relaxed);
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    received: AtomicU64,
    local: AtomicU64,
    bytes: AtomicU64,
}

#[test]
fn blocks_cross_threads_through_queues() {
    watchdog(600, "blocks_cross_threads_through_queues");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const THREADS: usize = 8;
    let per_thread = scale(50_000, 25_000);
    let before = sacs::stats();

    let mut senders: Vec<SyncSender<Msg>> = Vec::new();
    let mut receivers: Vec<Receiver<Msg>> = Vec::new();
    for _ in 0..THREADS {
        let (s, r) = sync_channel(256);
        senders.push(s);
        receivers.push(r);
    }
    let counts = Arc::new(Counts::default());
    let start = Arc::new(Barrier::new(THREADS));
    let mut handles = Vec::new();
    for (me, rx) in receivers.into_iter().enumerate() {
        let txs: Vec<(usize, SyncSender<Msg>)> = senders
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != me)
            .map(|(i, s)| (i, s.clone()))
            .collect();
        let counts = counts.clone();
        let start = start.clone();
        handles.push(thread::spawn(move || {
            let mut r = Rng::new(me as u64 + 1);
            start.wait();
            let mut kept: VecDeque<Msg> = VecDeque::new();
            for seq in 0..per_thread {
                let size = stress_size(&mut r, seq);
                let align = [1, 8, 16, 64][r.below(4)];
                let p = sacs::alloc(size, align);
                assert!(!p.is_null(), "alloc({size}) failed on thread {me}");
                assert_eq!(p as usize % align, 0);
                let tag = tag_of(me, seq);
                // SAFETY: p holds `size` bytes.
                unsafe { fill(p, size, tag) };
                let mut msg = Msg {
                    ptr: p as usize,
                    size,
                    tag,
                };
                if r.chance(10) {
                    // Some blocks stay and are freed later by their own thread.
                    kept.push_back(msg);
                    if kept.len() > 64 {
                        consume(kept.pop_front().unwrap(), &counts);
                        counts.local.fetch_add(1, Ordering::Relaxed);
                        counts.received.fetch_sub(1, Ordering::Relaxed);
                    }
                    continue;
                }
                let (_, tx) = &txs[r.below(txs.len())];
                loop {
                    match tx.try_send(msg) {
                        Ok(()) => break,
                        Err(TrySendError::Full(m)) => {
                            msg = m;
                            // Make progress on our own queue while the other one is full.
                            while let Ok(m) = rx.try_recv() {
                                consume(m, &counts);
                            }
                            thread::yield_now();
                        }
                        Err(TrySendError::Disconnected(_)) => panic!("receiver gone early"),
                    }
                }
                counts.sent.fetch_add(1, Ordering::Relaxed);
                for _ in 0..2 {
                    match rx.try_recv() {
                        Ok(m) => consume(m, &counts),
                        Err(_) => break,
                    }
                }
            }
            for m in kept.drain(..) {
                consume(m, &counts);
                counts.local.fetch_add(1, Ordering::Relaxed);
                counts.received.fetch_sub(1, Ordering::Relaxed);
            }
            drop(txs);
            // Everything still addressed to us, until every other thread is done sending.
            while let Ok(m) = rx.recv() {
                consume(m, &counts);
            }
        }));
    }
    drop(senders);
    for h in handles {
        h.join().expect("stress thread panicked");
    }
    let sent = counts.sent.load(Ordering::Relaxed);
    let received = counts.received.load(Ordering::Relaxed);
    let local = counts.local.load(Ordering::Relaxed);
    assert_eq!(sent, received, "blocks sent vs received");
    assert_eq!(sent + local, (THREADS * per_thread) as u64);
    assert!(sent > (THREADS * per_thread) as u64 * 8 / 10);

    let after = sacs::stats();
    let total = (THREADS * per_thread) as u64;
    for t in 0..4 {
        assert!(
            after.tiers[t].allocs > before.tiers[t].allocs,
            "tier {t} saw no allocation"
        );
    }
    assert!(
        after.frees() - before.frees() >= total,
        "frees grew by less than the {total} blocks freed"
    );
    assert!(
        after.remote_collects > before.remote_collects,
        "cross-thread frees were never collected for reuse"
    );
    assert!(
        after.heaps_retired >= before.heaps_retired + THREADS as u64 - 1,
        "exited threads' heaps were not retired"
    );
    #[cfg(feature = "validate")]
    sacs::validate();
}

/// One-way traffic: producers only allocate, consumers only free, so every free is remote and
/// the producers' pages must be refilled from their remote-free lists. If remote frees were not
/// reused, memory would grow with the total volume (hundreds of MiB); it must stay near the
/// volume in flight.
#[test]
fn producer_consumer_memory_is_reused() {
    watchdog(600, "producer_consumer_memory_is_reused");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const PAIRS: usize = 4;
    const CAP: usize = 1000;
    let per_producer = scale(250_000, 120_000);
    struct Queue {
        q: Mutex<VecDeque<Msg>>,
        not_full: Condvar,
        not_empty: Condvar,
        done: AtomicBool,
    }
    let queues: Vec<Arc<Queue>> = (0..PAIRS)
        .map(|_| {
            Arc::new(Queue {
                q: Mutex::new(VecDeque::new()),
                not_full: Condvar::new(),
                not_empty: Condvar::new(),
                done: AtomicBool::new(false),
            })
        })
        .collect();
    let rss_before = rss();
    let peak_rss = Arc::new(AtomicU64::new(rss_before as u64));
    let volume = Arc::new(AtomicU64::new(0));
    let counts = Arc::new(Counts::default());
    let mut handles = Vec::new();
    for (i, q) in queues.iter().enumerate() {
        let (q, volume, peak) = (q.clone(), volume.clone(), peak_rss.clone());
        handles.push(thread::spawn(move || {
            let mut r = Rng::new(100 + i as u64);
            for seq in 0..per_producer {
                let size = match r.below(100) {
                    0..=79 => r.range(16, 512),
                    _ => r.range(1025, 8 * KIB),
                };
                let p = sacs::alloc(size, 8);
                assert!(!p.is_null());
                let tag = tag_of(i, seq);
                // SAFETY: size bytes.
                unsafe { fill(p, size, tag) };
                volume.fetch_add(size as u64, Ordering::Relaxed);
                let mut g = q.q.lock().unwrap();
                while g.len() >= CAP {
                    g = q.not_full.wait(g).unwrap();
                }
                g.push_back(Msg {
                    ptr: p as usize,
                    size,
                    tag,
                });
                drop(g);
                q.not_empty.notify_one();
                if seq % 10_000 == 0 {
                    peak.fetch_max(rss() as u64, Ordering::Relaxed);
                }
            }
            q.done.store(true, Ordering::Release);
            q.not_empty.notify_all();
        }));
        let (q, counts) = (queues[i].clone(), counts.clone());
        handles.push(thread::spawn(move || loop {
            let mut g = q.q.lock().unwrap();
            while g.is_empty() && !q.done.load(Ordering::Acquire) {
                g = q.not_empty.wait(g).unwrap();
            }
            if g.is_empty() {
                return;
            }
            let batch: Vec<Msg> = g.drain(..).collect();
            drop(g);
            q.not_full.notify_all();
            for m in batch {
                consume(m, &counts);
            }
        }));
    }
    for h in handles {
        h.join().expect("producer/consumer thread panicked");
    }
    let produced = (PAIRS * per_producer) as u64;
    assert_eq!(counts.received.load(Ordering::Relaxed), produced);
    let volume = volume.load(Ordering::Relaxed) as usize;
    let growth = (peak_rss.load(Ordering::Relaxed) as usize).saturating_sub(rss_before);
    assert!(
        volume > 100 * MIB,
        "volume {volume} too small to mean anything"
    );
    assert!(
        growth < 48 * MIB,
        "RSS grew by {} MiB while only ~{} MiB were ever in flight (total volume {} MiB): remote frees not reused?",
        growth / MIB,
        PAIRS * CAP * 8 * KIB / MIB,
        volume / MIB
    );
}
