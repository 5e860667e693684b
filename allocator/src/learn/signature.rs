//! A workload's signature: the mix of tiers it allocates from and how fast, which tells the
//! learner when the program has changed (re-open or recall) and which knobs have work to do.

use super::math::{abs, log2};
use super::measure::Window;
use crate::stats::TIERS;

/// How far the signature may move before it counts as a new workload: a tier's share of
/// allocations by this much, or the allocation rate by this factor (log2).
const SHIFT_SHARE: f64 = 0.3;
const SHIFT_RATE_LOG2: f64 = 3.0;

/// The workload's signature: each tier's share of allocations, and log2 of the allocation
/// rate per millisecond of the process's CPU time (not of the clock: a process that the machine
/// leaves waiting, or that sleeps, allocates no differently when it runs).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Signature {
    pub(super) share: [f64; TIERS],
    pub(super) rate_log2: f64,
}

impl Signature {
    pub(super) fn of(w: &Window) -> Signature {
        let total = w.total_allocs().max(1) as f64;
        let mut s = Signature {
            rate_log2: log2(total * 1000.0 / w.cpu_us.max(1) as f64),
            ..Signature::default()
        };
        for (t, share) in s.share.iter_mut().enumerate() {
            *share = w.allocs[t] as f64 / total;
        }
        s
    }

    /// Moves a quarter of the way towards `to`.
    pub(super) fn blend(&mut self, to: &Signature) {
        for (a, b) in self.share.iter_mut().zip(to.share.iter()) {
            *a += (b - *a) / 4.0;
        }
        self.rate_log2 += (to.rate_log2 - self.rate_log2) / 4.0;
    }

    pub(super) fn far_from(&self, other: &Signature) -> bool {
        self.share
            .iter()
            .zip(other.share.iter())
            .any(|(a, b)| abs(a - b) > SHIFT_SHARE)
            || abs(self.rate_log2 - other.rate_log2) > SHIFT_RATE_LOG2
    }

    /// The share of allocations made in the tiers of `mask`.
    pub(super) fn share_of(&self, mask: u8) -> f64 {
        (0..TIERS)
            .filter(|t| mask & (1 << t) != 0)
            .map(|t| self.share[t])
            .sum()
    }
}
