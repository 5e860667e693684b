//! The live predictor (session 11): without look-ahead from the caller, `Field::query` and
//! `Field::update` can feed their points to a running motion model (`prefetch::Motion`, the
//! model behind the offline `Trajectory` predictor) and, while the model trusts itself, hand
//! the point `horizon` calls ahead to [`Field::prefetch`] — so with the background reader its
//! blocks load while the calls in between run. Single calls feed it (not `query_batch`, whose
//! points are known), and it stays quiet on points that jump (its relative one-step error
//! is then far above the bound), so it costs no I/O there. (`update` feeds it since session
//! 16: before, a training loop along a path got no prediction. Since session 23 an update's
//! prediction is read as [`Field::prefetch_for_update`] reads, into hot with exact values:
//! read into warm, an update read it again.)

use super::Field;
use crate::error::Result;
use crate::prefetch::Motion;

/// The live predictor's settings ([`Field::set_predictor`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Predictor {
    /// How many queries ahead the predicted point is. A read takes longer than one query
    /// (about 0.1 – 1 ms against 5 – 25 µs at 4 GiB on the development machine), so a
    /// horizon of a few queries arrives too late; 32 was measured (docs/field.md).
    pub horizon: usize,
    /// The largest running one-step error, relative to the step length, at which the model
    /// still predicts (0.5 in the offline evaluation).
    pub max_error: f32,
}

impl Default for Predictor {
    fn default() -> Predictor {
        Predictor {
            horizon: 32,
            max_error: 0.5,
        }
    }
}

/// The predictor's state in a field.
pub(super) struct Live {
    motion: Motion,
    horizon: usize,
}

impl Field {
    /// Turns the live predictor on (or off with `None`); see the module documentation. Off
    /// by default.
    pub fn set_predictor(&mut self, predictor: Option<Predictor>) {
        self.live = predictor.map(|p| Live {
            motion: Motion::new(p.max_error),
            horizon: p.horizon.max(1),
        });
    }

    /// Feeds `x` (checked) to the live predictor, if any, and prefetches its prediction
    /// (`for_update`: as [`Field::prefetch_for_update`] does, else as [`Field::prefetch`]).
    pub(super) fn predict_from(&mut self, x: &[f32], for_update: bool) -> Result<()> {
        let Some(live) = &mut self.live else {
            return Ok(());
        };
        let dim = x.len();
        let mut point = [0f32; 3];
        point[..dim].copy_from_slice(x);
        if !live.motion.observe(point) {
            return Ok(());
        }
        let ahead = live.motion.ahead(live.horizon as f32);
        self.predictions += 1;
        self.prefetch_points(&ahead[..dim], for_update).map(|_| ())
    }
}
