//! What a learning window costs: the counters read at its end ([`Reading`]: allocations per
//! tier, system-call cycles, page faults, refills, committed bytes above those in use) and the
//! difference of two readings ([`Window`]), which the learner scores.

use core::sync::atomic::Ordering::Relaxed;

use crate::platform;
use crate::stats::{self, GLOBAL, TIERS};

/// Cycles one page fault costs, as charged to a window: a first touch of a fresh 4 KiB page
/// (fault and zeroing) measured about 4,000 time-stamp cycles on the project's machines
/// (`scripts/fault-cycles.c`).
pub const FAULT_CYCLES: u64 = 4000;
/// Cycles charged per refill from a shared structure (a lock and list work, no system call:
/// those are counted apart).
pub const REFILL_CYCLES: u64 = 2000;

/// Cumulative counters read at a window's end.
#[derive(Clone, Copy, Default)]
pub(super) struct Reading {
    pub(super) ms: u64,
    allocs: [u64; TIERS],
    syscall_cycles: u64,
    faults: u64,
    cpu_us: u64,
    refills: u64,
    waste: u64,
}

impl Reading {
    pub(super) fn now(ms: u64) -> Reading {
        let a = stats::activity();
        let usage = platform::usage();
        Reading {
            ms,
            allocs: a.allocs,
            // The pressure check's file reads come at its own pace, whatever the knobs.
            syscall_cycles: platform::SYSCALLS
                .iter()
                .enumerate()
                .filter(|&(kind, _)| kind != platform::Syscall::FileRead as usize)
                .map(|(_, c)| c.cycles.load(Relaxed))
                .fold(0, u64::wrapping_add),
            faults: usage.faults,
            cpu_us: usage.cpu_us,
            refills: GLOBAL.warm_pool_prefills.get()
                + GLOBAL.big_cache_misses.get()
                + GLOBAL.whale_ring_misses.get()
                + GLOBAL.segments_mapped.get(),
            waste: a.committed.saturating_sub(a.in_use),
        }
    }
}

/// One window, measured: what the learner scores.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Allocations per tier in the window.
    pub allocs: [u64; TIERS],
    /// CPU time the process spent in it (all threads, user and system), in microseconds: what
    /// the allocation rate of the workload's signature is measured against, so that a process
    /// the machine leaves waiting does not look like a new workload.
    pub cpu_us: u64,
    /// Cycles of system calls, faults and refills.
    pub time_cycles: u64,
    /// Bytes committed above the bytes in use at its end.
    pub waste: u64,
}

impl Window {
    pub(super) fn between(a: &Reading, b: &Reading) -> Window {
        let mut allocs = [0; TIERS];
        for (t, n) in allocs.iter_mut().enumerate() {
            *n = b.allocs[t].saturating_sub(a.allocs[t]);
        }
        Window {
            allocs,
            cpu_us: b.cpu_us.saturating_sub(a.cpu_us).max(1),
            time_cycles: b.syscall_cycles.wrapping_sub(a.syscall_cycles)
                + b.faults.saturating_sub(a.faults) * FAULT_CYCLES
                + b.refills.saturating_sub(a.refills) * REFILL_CYCLES,
            waste: b.waste,
        }
    }

    pub(super) fn total_allocs(&self) -> u64 {
        self.allocs.iter().sum()
    }
}
