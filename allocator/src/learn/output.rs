//! What the learner does with its state at the end of a window: sets each knob's option
//! ([`Learner::apply`]: the value being played, the lean end under pressure, or the default
//! with learning off) and publishes its state on the statistics board ([`Learner::publish`]).

use core::sync::atomic::Ordering::Relaxed;

use super::{Learner, KNOB_WINDOW, LEAN};
use crate::options::{self, LADDERS, OPTIONS};
use crate::pressure;
use crate::stats::LEARN;

impl Learner {
    /// Sets every knob's option: its lean end under pressure, else what the learner runs (or,
    /// with learning off, its default). Explicit options are left alone by `set_learned`.
    pub(super) fn apply(&self, on: bool) {
        let lean = pressure::active();
        if lean && !LEAN.swap(true, Relaxed) {
            LEARN.pressure_lean.fetch_add(1, Relaxed);
        }
        if !lean {
            LEAN.store(false, Relaxed);
        }
        for (i, ladder) in LADDERS.iter().enumerate() {
            let value = if lean {
                ladder.candidates[0]
            } else if on {
                ladder.candidates[self.running(i)]
            } else {
                OPTIONS[ladder.opt as usize].default
            };
            options::set_learned(ladder.opt, value);
        }
    }

    /// Publishes the state on the statistics board, and the window the next one needs.
    pub(super) fn publish(&self, on: bool) {
        KNOB_WINDOW.store(self.current.map_or(0, |i| LADDERS[i].window_ms), Relaxed);
        LEARN.enabled.store(on as u8, Relaxed);
        LEARN.windows.store(self.windows, Relaxed);
        LEARN.reopened.store(self.reopened, Relaxed);
        LEARN.recalled.store(self.recalled, Relaxed);
        LEARN.restored.store(self.restored, Relaxed);
        if self.frozen_signature.is_some() && on {
            LEARN.frozen_windows.fetch_add(1, Relaxed);
        }
        for (k, board) in self.knobs.iter().zip(LEARN.knobs.iter()) {
            board.games.store(k.games, Relaxed);
            board.state.store(k.state as u8, Relaxed);
            for (b, &r) in board.ratings.iter().zip(k.ratings.iter()) {
                b.store(r, Relaxed);
            }
        }
    }
}
