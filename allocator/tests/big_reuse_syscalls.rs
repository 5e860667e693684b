//! Freed big blocks stay committed and are reused without system calls while the program is
//! busy: (1) the same sizes allocated and freed again and again make no `madvise` at all, and
//! (2) a churn of 64 live blocks of random big sizes, one replaced per step (the `big-mix`
//! workload), makes far fewer `madvise` calls than steps — a freed block of one size serves
//! the next block of another through its segment's committed slices. Before, every miss of the
//! exact-size cache decommitted a cached block (one `MADV_DONTNEED` per step) and the next
//! block faulted its pages back. A process of its own: the counters are process-wide.
//!
//! The purge delays are set far beyond the test's run time, so that no `madvise` here is a
//! purge of memory that aged (which a slow debug build on a loaded machine would otherwise
//! reach): what is counted is what reuse itself costs, which must be nothing.

mod common;

use common::rss::stats_table;
use common::*;
use sacs::options::{self, Opt};
use sacs::Syscall;

fn madvise_calls() -> u64 {
    let s = sacs::stats();
    s.syscalls[Syscall::MadviseFree as usize].calls
        + s.syscalls[Syscall::MadviseDontneed as usize].calls
}

fn touch(p: *mut u8, size: usize) {
    assert!(!p.is_null());
    // SAFETY: p holds size bytes; one byte per 4 KiB page, as a program writing it would.
    unsafe {
        for off in (0..size).step_by(4096) {
            *p.add(off) = 1;
        }
    }
}

#[test]
fn busy_big_traffic_keeps_its_memory_committed() {
    watchdog(120, "big_reuse_syscalls");
    for opt in [Opt::PurgeDelayMs, Opt::HotMs, Opt::WarmMs] {
        options::set(opt, 600_000);
    }
    // (1) Same sizes, again and again.
    let sizes = [40 * KIB, 100 * KIB, 300 * KIB, 1000 * KIB, 2 * MIB - 4096];
    for &size in &sizes {
        let p = sacs::alloc(size, 8);
        touch(p, size);
        // SAFETY: from sacs::alloc.
        unsafe { sacs::free(p) };
    }
    let before = madvise_calls();
    for _ in 0..2000 {
        for &size in &sizes {
            let p = sacs::alloc(size, 8);
            touch(p, size);
            // SAFETY: from sacs::alloc.
            unsafe { sacs::free(p) };
        }
    }
    let same = madvise_calls() - before;
    assert!(
        same == 0,
        "10000 alloc/free pairs of 5 recurring big sizes made {same} madvise calls\n{}",
        stats_table()
    );

    // (2) big-mix: 64 live blocks of log-uniform sizes in 32 KiB .. 2 MiB.
    let mut r = Rng::new(0xB16);
    let size = |r: &mut Rng| {
        let (lo, hi) = ((32.0 * KIB as f64).ln(), (2.0 * MIB as f64).ln());
        let u = r.next_u64() as f64 / u64::MAX as f64;
        ((lo + (hi - lo) * u).exp() as usize).clamp(32 * KIB + 1, 2 * MIB - 1)
    };
    let mut live: Vec<(*mut u8, usize)> = (0..64)
        .map(|_| {
            let s = size(&mut r);
            let p = sacs::alloc(s, 8);
            touch(p, s);
            (p, s)
        })
        .collect();
    let steps = scale(20_000, 2_000) as u64;
    let before = madvise_calls();
    for _ in 0..steps {
        let i = r.below(live.len());
        let (p, _) = live.swap_remove(i);
        // SAFETY: a live block, freed once.
        unsafe { sacs::free(p) };
        let s = size(&mut r);
        let q = sacs::alloc(s, 8);
        touch(q, s);
        live.push((q, s));
    }
    let churn = madvise_calls() - before;
    assert!(
        churn * 20 <= steps,
        "{steps} steps of big-mix churn made {churn} madvise calls (more than one per 20 steps)\n{}",
        stats_table()
    );
    for (p, _) in live {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p) };
    }
}
