//! The trajectory predictor: an online model over the *query points* rather than the block
//! ids. Instant-NGP's spatial hash sends a point's fine-level vertices to unrelated blocks, so
//! the block ids of a smooth camera path carry no trend a block-stream model could learn (see
//! `docs/field-prefetch.md`); the points do. The model keeps a running velocity (an
//! exponential average of the last steps) and the running error of its own one-step
//! predictions; while that error stays below `max_error` of the step length it proposes the
//! blocks of the points `1 ..= horizon` steps ahead along the velocity (computed by the
//! field's indexing, `Field::blocks_of`, without loading anything). Otherwise (uniform or
//! Zipf points jump: the error is many steps long) it stays quiet.
//!
//! It only reads the point of the query being answered and earlier ones: no look-ahead.

use super::{Access, Event, Prefetcher, Trace};
use crate::field::Field;

/// Weight of the newest step in the running velocity and error.
const SMOOTHING: f32 = 0.5;

/// A running model of a stream of points' motion: the velocity (an exponential average of
/// the last steps) and the running error of its own one-step predictions relative to the step
/// length. Used by [`Trajectory`] (offline) and by the field's live predictor
/// (`Field::set_predictor`).
#[derive(Clone, Debug)]
pub struct Motion {
    max_error: f32,
    last_point: Option<[f32; 3]>,
    velocity: [f32; 3],
    predicted: Option<[f32; 3]>,
    relative_error: f32,
    steps: u32,
}

impl Motion {
    /// A model that trusts itself while its relative one-step error stays below `max_error`.
    pub fn new(max_error: f32) -> Motion {
        Motion {
            max_error,
            last_point: None,
            velocity: [0.0; 3],
            predicted: None,
            relative_error: f32::INFINITY,
            steps: 0,
        }
    }

    /// Takes the next point (unused coordinates 0); returns whether the model now trusts its
    /// predictions (at least two steps seen and the running relative error under the bound).
    pub fn observe(&mut self, x: [f32; 3]) -> bool {
        if let Some(last) = self.last_point {
            let step: [f32; 3] = std::array::from_fn(|d| x[d] - last[d]);
            let length = distance(step, [0.0; 3]).max(1e-9);
            let error = self.predicted.map_or(f32::INFINITY, |p| distance(p, x)) / length;
            self.relative_error = if self.relative_error.is_finite() {
                SMOOTHING * error.min(1e3) + (1.0 - SMOOTHING) * self.relative_error
            } else {
                error
            };
            for (v, s) in self.velocity.iter_mut().zip(step) {
                *v = if self.steps == 0 {
                    s
                } else {
                    SMOOTHING * s + (1.0 - SMOOTHING) * *v
                };
            }
            self.steps += 1;
        }
        self.last_point = Some(x);
        self.predicted = Some(std::array::from_fn(|d| x[d] + self.velocity[d]));
        self.steps >= 2 && self.relative_error <= self.max_error
    }

    /// The point `k` steps ahead of the last one along the velocity, clamped to the unit cube.
    pub fn ahead(&self, k: f32) -> [f32; 3] {
        let x = self.last_point.unwrap_or([0.0; 3]);
        std::array::from_fn(|d| (x[d] + k * self.velocity[d]).clamp(0.0, 1.0))
    }
}

/// The trajectory predictor, over a trace's points and the field that maps points to blocks.
pub struct Trajectory<'a> {
    field: &'a Field,
    points: &'a [f32],
    dim: usize,
    horizon: usize,
    max_error: f32,
    last_query: Option<u32>,
    motion: Motion,
    scratch: Vec<(u8, u64)>,
}

impl<'a> Trajectory<'a> {
    /// A predictor for `trace` (recorded with its points) on `field`, proposing `horizon`
    /// steps ahead while its relative error is below `max_error`.
    pub fn new(field: &'a Field, trace: &'a Trace, horizon: usize, max_error: f32) -> Self {
        Trajectory {
            field,
            points: &trace.points,
            dim: trace.dim,
            horizon: horizon.max(1),
            max_error,
            last_query: None,
            motion: Motion::new(max_error),
            scratch: Vec::new(),
        }
    }

    fn point(&self, q: usize) -> Option<[f32; 3]> {
        let p = self.points.get(q * self.dim..(q + 1) * self.dim)?;
        let mut x = [0f32; 3];
        x[..self.dim].copy_from_slice(p);
        Some(x)
    }
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    (0..3).map(|d| (a[d] - b[d]).powi(2)).sum::<f32>().sqrt()
}

impl Prefetcher for Trajectory<'_> {
    fn name(&self) -> String {
        format!("trajectory-h{}-e{:.2}", self.horizon, self.max_error)
    }

    fn observe(&mut self, _: usize, access: &Access, _: Event, out: &mut Vec<u64>) {
        if self.last_query == Some(access.query) {
            return;
        }
        self.last_query = Some(access.query);
        let Some(x) = self.point(access.query as usize) else {
            return;
        };
        if !self.motion.observe(x) {
            return;
        }
        self.scratch.clear();
        for k in 1..=self.horizon {
            let ahead = self.motion.ahead(k as f32);
            // The point is finite and of the field's dimension, so this cannot fail.
            let _ = self.field.blocks_of(&ahead[..self.dim], &mut self.scratch);
        }
        out.extend(self.scratch.iter().map(|&(_, b)| b));
    }
}
