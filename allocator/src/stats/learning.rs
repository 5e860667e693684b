//! The learner's board: what `crate::learn` publishes for the statistics (each knob's value,
//! its candidates' ratings, games played and state; windows, re-openings, pressure events),
//! and its snapshot in [`Stats`]. The learner writes it at the end of a window,
//! under its own lock; snapshots read it with relaxed loads (a snapshot taken while a window
//! closes may mix two windows' figures, which a statistics reader can live with).

use core::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering::Relaxed};

use super::{add_live, read_global_tiers, settle_tiers, Stats, GLOBAL, TIERS};
use crate::options::{self, CANDIDATES_MAX, KNOB_COUNT, LADDERS};

/// The rating every candidate starts from (ELO points).
pub const START_RATING: i32 = 1500;

/// What a knob is doing ([`KnobStats::state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum KnobState {
    /// Not played yet (learning off, or its turn has not come).
    #[default]
    Waiting = 0,
    /// Its candidates are playing windows.
    Learning = 1,
    /// Its ratings have settled: the chosen value stays until the workload changes.
    Frozen = 2,
    /// The tiers it tunes saw no allocations: left at its default until they do.
    Idle = 3,
    /// Set explicitly (`SACS_*` or `sacs_option_set`): never moved.
    Explicit = 4,
}

/// Names of [`KnobState`] values, for the table and JSON.
pub const KNOB_STATE_NAMES: [&str; 5] = ["waiting", "learning", "frozen", "idle", "explicit"];

impl KnobState {
    fn from_u8(v: u8) -> KnobState {
        match v {
            1 => KnobState::Learning,
            2 => KnobState::Frozen,
            3 => KnobState::Idle,
            4 => KnobState::Explicit,
            _ => KnobState::Waiting,
        }
    }
}

/// One knob on the board (its value is its option's, read at the snapshot).
pub struct KnobBoard {
    pub ratings: [AtomicI32; CANDIDATES_MAX],
    pub games: AtomicU64,
    pub state: AtomicU8,
}

/// The learner's published state.
pub struct LearnBoard {
    pub knobs: [KnobBoard; KNOB_COUNT],
    /// Windows closed with enough allocations to score.
    pub windows: AtomicU64,
    /// Times a change of workload re-opened learning after it had frozen.
    pub reopened: AtomicU64,
    /// Times a change of workload brought back the choices frozen for an earlier one.
    pub recalled: AtomicU64,
    /// Times the learner's state was taken from its file (`SACS_LEARN_FILE`): 0 or 1.
    pub restored: AtomicU64,
    /// Windows at whose end every knob was frozen, idle or explicit.
    pub frozen_windows: AtomicU64,
    /// Times memory pressure moved the knobs to their lean ends.
    pub pressure_lean: AtomicU64,
    /// Whether learning is on (`SACS_LEARN`), as the last window found it.
    pub enabled: AtomicU8,
}

#[allow(clippy::declare_interior_mutable_const)]
const RATING: AtomicI32 = AtomicI32::new(START_RATING);
#[allow(clippy::declare_interior_mutable_const)]
const KNOB: KnobBoard = KnobBoard {
    ratings: [RATING; CANDIDATES_MAX],
    games: AtomicU64::new(0),
    state: AtomicU8::new(0),
};

/// The board.
pub static LEARN: LearnBoard = LearnBoard {
    knobs: [KNOB; KNOB_COUNT],
    windows: AtomicU64::new(0),
    reopened: AtomicU64::new(0),
    recalled: AtomicU64::new(0),
    restored: AtomicU64::new(0),
    frozen_windows: AtomicU64::new(0),
    pressure_lean: AtomicU64::new(0),
    enabled: AtomicU8::new(0),
};

/// A knob in a snapshot.
#[derive(Clone, Copy, Debug, Default)]
pub struct KnobStats {
    /// The value the knob's option has now.
    pub value: usize,
    /// Ratings of the candidates in `options::LADDERS` order (ELO points, 1500 at the start).
    pub ratings: [i32; CANDIDATES_MAX],
    /// Windows in which one of its challengers played against its chosen value.
    pub games: u64,
    pub state: KnobState,
}

/// The learner in a snapshot.
#[derive(Clone, Copy, Debug, Default)]
pub struct LearnStats {
    pub enabled: bool,
    pub knobs: [KnobStats; KNOB_COUNT],
    pub windows: u64,
    pub reopened: u64,
    pub recalled: u64,
    pub restored: u64,
    pub frozen_windows: u64,
    pub pressure_lean: u64,
}

impl LearnStats {
    /// Reads the board.
    pub fn read() -> LearnStats {
        let b = &LEARN;
        let mut s = LearnStats {
            enabled: b.enabled.load(Relaxed) != 0,
            windows: b.windows.load(Relaxed),
            reopened: b.reopened.load(Relaxed),
            recalled: b.recalled.load(Relaxed),
            restored: b.restored.load(Relaxed),
            frozen_windows: b.frozen_windows.load(Relaxed),
            pressure_lean: b.pressure_lean.load(Relaxed),
            ..LearnStats::default()
        };
        for ((k, board), ladder) in s.knobs.iter_mut().zip(b.knobs.iter()).zip(LADDERS.iter()) {
            k.value = options::get(ladder.opt);
            k.games = board.games.load(Relaxed);
            k.state = if options::is_explicit(ladder.opt) {
                KnobState::Explicit
            } else {
                KnobState::from_u8(board.state.load(Relaxed))
            };
            for (r, a) in k.ratings.iter_mut().zip(board.ratings.iter()) {
                *r = a.load(Relaxed);
            }
        }
        s
    }

    /// Whether there is anything to show (learning on, or pressure moved the knobs).
    pub fn shown(&self) -> bool {
        self.enabled || self.pressure_lean != 0
    }
}

/// What the learner reads at the end of a window: allocations per tier, bytes in use and bytes
/// committed. The tier part of [`stats`](super::stats), without the files it reads.
pub struct Activity {
    pub allocs: [u64; TIERS],
    pub in_use: u64,
    pub committed: u64,
}

/// Reads the [`Activity`] counters (walking the live heaps under their lock, like
/// [`stats`](super::stats)).
pub fn activity() -> Activity {
    let mut s = Stats::default();
    read_global_tiers(&mut s);
    add_live(&mut s);
    settle_tiers(&mut s);
    Activity {
        allocs: s.tiers.map(|t| t.allocs),
        in_use: s.in_use_bytes(),
        committed: GLOBAL.committed_now() as u64,
    }
}
