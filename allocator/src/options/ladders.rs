//! The learner's knobs (`crate::learn`): which options it may move, and to which values.

use super::{Opt, OPTIONS};

/// A knob the learner may move (`crate::learn`): the option it sets and its candidate values,
/// in order from the leanest (least memory kept) to the most generous, one of which is the
/// option's default.
pub struct Ladder {
    pub opt: Opt,
    pub candidates: &'static [usize],
    /// The shortest window (ms) the knob's games are played in: for a delay, its longest
    /// candidate, so that what a delay costs (memory kept, faults when the memory comes back)
    /// falls mostly in the window that chose it.
    pub window_ms: u64,
}

impl Ladder {
    /// The index of the option's default among the candidates (0 if it is not one).
    pub fn default_index(&self) -> usize {
        let default = OPTIONS[self.opt as usize].default;
        self.candidates
            .iter()
            .position(|&c| c == default)
            .unwrap_or(0)
    }
}

/// Number of knobs the learner moves.
pub const KNOB_COUNT: usize = 7;

/// The most candidates a knob has.
pub const CANDIDATES_MAX: usize = 4;

/// Every knob the learner moves, in the order it learns them: the delays of the big blocks
/// last, since their windows are longest (a short program may end before they play).
pub static LADDERS: [Ladder; KNOB_COUNT] = [
    Ladder {
        opt: Opt::PurgeDelayMs,
        candidates: &[0, 10, 50],
        window_ms: 50,
    },
    Ladder {
        opt: Opt::ThreadBigCacheMib,
        candidates: &[0, 4, 16],
        window_ms: 0,
    },
    Ladder {
        opt: Opt::WhaleWastePercent,
        candidates: &[25, 50, 75],
        window_ms: 0,
    },
    Ladder {
        opt: Opt::WarmPoolPages,
        candidates: &[4, 8, 16],
        window_ms: 0,
    },
    Ladder {
        opt: Opt::PrefillPages,
        candidates: &[1, 4, 8],
        window_ms: 0,
    },
    Ladder {
        opt: Opt::HotMs,
        candidates: &[50, 100, 200],
        window_ms: 200,
    },
    Ladder {
        opt: Opt::WarmMs,
        candidates: &[200, 600, 900, 1200],
        window_ms: 1200,
    },
];
