//! The split of slow calls' time by part, for finding what makes them slow (session 11).

use crate::field::TailCounters;

/// Calls slower than this are the *slow calls* whose time [`SlowCalls`] splits by part.
pub const SLOW_CALL_NS: u64 = 1_000_000;

/// Issue 13's bar for a single query's p99 (5 ms): [`SlowCalls`] counts the calls over it
/// apart (session 21).
pub const BAR_CALL_NS: u64 = 5_000_000;

/// The time of the calls slower than [`SLOW_CALL_NS`], split by where it went
/// ([`TailCounters`]' parts, measured inside each call); the rest is the kernels, the tiers'
/// bookkeeping and the thread waiting for a core.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlowCalls {
    /// How many calls.
    pub calls: u64,
    /// Their whole time, ns.
    pub ns: u64,
    /// Within it: loads on the caller's thread.
    pub load_ns: u64,
    /// Waits for background reads.
    pub read_wait_ns: u64,
    /// Evictions from hot (hand-over of a dirty victim included).
    pub eviction_ns: u64,
    /// Hand-overs of every dirty block at the write-back threshold.
    pub dirty_hand_over_ns: u64,
    /// Waits for room among the writer's copies in flight (inside the two above).
    pub write_wait_ns: u64,
    /// Slow calls that contained a hand-over at the threshold.
    pub with_dirty_hand_over: u64,
    /// Blocks loaded on the caller's thread in the slow calls (`TailCounters::loads`).
    pub loads: u64,
    /// Their joint reads (`TailCounters::joint_reads`: several blocks read together).
    pub joint_reads: u64,
    /// Of the slow calls, those slower than [`BAR_CALL_NS`]: how many, their time, their time
    /// in loads, and their loads.
    pub bar_calls: u64,
    /// See `bar_calls`.
    pub bar_ns: u64,
    /// See `bar_calls`.
    pub bar_load_ns: u64,
    /// See `bar_calls`.
    pub bar_loads: u64,
    /// See `bar_calls`.
    pub bar_joint_reads: u64,
}

impl SlowCalls {
    pub(super) fn add(&mut self, ns: u64, before: &TailCounters, after: &TailCounters) {
        self.calls += 1;
        self.ns += ns;
        self.load_ns += after.load_ns - before.load_ns;
        self.read_wait_ns += after.read_wait_ns - before.read_wait_ns;
        self.eviction_ns += after.eviction_ns - before.eviction_ns;
        self.dirty_hand_over_ns += after.dirty_hand_over_ns - before.dirty_hand_over_ns;
        self.write_wait_ns += after.write_wait_ns - before.write_wait_ns;
        if after.dirty_hand_overs > before.dirty_hand_overs {
            self.with_dirty_hand_over += 1;
        }
        let loads = after.loads - before.loads;
        self.loads += loads;
        let joint = after.joint_reads - before.joint_reads;
        self.joint_reads += joint;
        if ns > BAR_CALL_NS {
            self.bar_calls += 1;
            self.bar_ns += ns;
            self.bar_load_ns += after.load_ns - before.load_ns;
            self.bar_loads += loads;
            self.bar_joint_reads += joint;
        }
    }
}
