//! Holes under threads (`page::holes`): four threads allocate blocks of the tiny and mid tiers
//! filled with patterns, keep one in eight, hand half of what they keep to the next thread (whose
//! free of it is a remote free into a page that may be punched meanwhile), and free the rest.
//! Every round each thread forces a purge look (`sacs::purge()`, which punches the free system
//! pages of all its partial pages), then checks every block it holds. With purge delays of 1 ms
//! the looks between rounds punch too, and allocations fill the holes again. The test fails on a
//! changed byte, on overlapping blocks, on a failed invariant check (feature `validate`), or if
//! no hole was punched or filled. SACS is this binary's global allocator too.

mod common;

use common::*;
use sacs::options::{self, Opt};
use sacs::Sacs;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Barrier};
use std::thread;

#[global_allocator]
static GLOBAL: Sacs = Sacs;

const THREADS: usize = 4;

fn worker(
    id: usize,
    to_next: Sender<Vec<Held>>,
    from_prev: Receiver<Vec<Held>>,
    rounds: usize,
    barrier: Arc<Barrier>,
) {
    let mut rng = Rng::new(0x401E5 + id as u64);
    let mut kept: Vec<Held> = Vec::new();
    let per_round = scale(20_000, 4_000);
    for round in 0..rounds {
        let mut fresh = Vec::with_capacity(per_round);
        for i in 0..per_round {
            let len = if rng.chance(75) {
                rng.range(16, 1024)
            } else {
                rng.range(1025, 8 * KIB)
            };
            let tag = ((id as u64) << 48) | ((round as u64) << 24) | i as u64;
            fresh.push(alloc_filled(len, tag));
        }
        let mut give = Vec::new();
        for (i, h) in fresh.into_iter().enumerate() {
            match i % 16 {
                0 => kept.push(h),
                8 => give.push(h),
                _ => check_and_free(h, "a block freed by its own thread"),
            }
        }
        to_next.send(give).unwrap();
        // Blocks from the previous thread: checked, half kept a round longer, half freed now
        // (remote frees into its pages).
        let mut got = from_prev.recv().unwrap();
        let later = got.split_off(got.len() / 2);
        for h in got {
            check_and_free(h, "a block freed by another thread");
        }
        kept.extend(later);
        sacs::purge();
        #[cfg(feature = "validate")]
        sacs::validate();
        for h in &kept {
            // SAFETY: a live block of `h.len` bytes filled with `h.tag`'s pattern.
            unsafe {
                check(
                    h.ptr as *const u8,
                    h.len,
                    h.tag,
                    "a kept block after a purge",
                )
            };
        }
        // Every third round, the oldest half of what is kept goes.
        if round % 3 == 2 {
            let rest = kept.split_off(kept.len() / 2);
            for h in std::mem::replace(&mut kept, rest) {
                check_and_free(h, "an old kept block");
            }
        }
        barrier.wait();
    }
    let mut spans: Vec<(usize, usize)> = kept.iter().map(|h| (h.ptr, h.len)).collect();
    spans.sort_unstable();
    assert_disjoint(spans, "the blocks one thread holds");
    for h in kept {
        check_and_free(h, "a kept block at the end");
    }
}

#[test]
fn holes_are_punched_and_filled_while_threads_free_into_each_others_pages() {
    options::set(Opt::PurgeDelayMs, 1);
    let before = sacs::stats();
    let rounds = 12;
    let barrier = Arc::new(Barrier::new(THREADS));
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| channel()).unzip();
    let mut receivers: Vec<Option<Receiver<Vec<Held>>>> = receivers.into_iter().map(Some).collect();
    let handles: Vec<_> = (0..THREADS)
        .map(|id| {
            let to_next = senders[(id + 1) % THREADS].clone();
            let from_prev = receivers[id].take().unwrap();
            let barrier = barrier.clone();
            thread::spawn(move || worker(id, to_next, from_prev, rounds, barrier))
        })
        .collect();
    for h in handles {
        h.join().expect("a worker failed");
    }
    let after = sacs::stats();
    assert!(
        after.holes_punched > before.holes_punched,
        "no system page was punched"
    );
    assert!(
        after.holes_filled > before.holes_filled,
        "no hole was filled again ({} punched)",
        after.holes_punched - before.holes_punched
    );
}
