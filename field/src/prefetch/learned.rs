//! The learned predictor: two online tables over the block stream, per level, with a
//! confidence gate on every prediction and a feedback gate on the whole predictor.
//!
//! - **Successor table** (a first-order Markov model): keyed by `(level, previous block at
//!   that level)`, the blocks that followed it, with counts. It learns revisited paths: a
//!   region queried again, a camera passing the same place.
//! - **Delta table** (delta correlation): keyed by `(level, last delta at that level)`, the
//!   deltas that followed, with counts. It learns regular strides (the dense coarse levels,
//!   whose vertices are numbered `x + y·(r+1) + z·(r+1)²`).
//!
//! Each key keeps [`WAYS`] candidates; a new one replaces the weakest after halving all counts
//! (so old habits fade). A candidate is proposed when it was seen at least `min_count` times
//! and makes at least `min_confidence` of its key's count. Over the whole stream, the share of
//! loaded proposals later used is kept as an exponential average (each loaded proposal pulls
//! it down, each first use, the `PrefetchHit` event, up); below `min_accuracy` the predictor stays quiet except for one
//! proposal in `probe_every`, so that it notices when the stream becomes predictable again.
//! On uniform random points nothing repeats, no candidate passes the gate and it stays quiet.
//!
//! The seed's Hoeffding tree is a classifier over a few classes; the question here is *which
//! block of 2^14 – 2^24 comes next*, which count tables answer directly in O(1) per access.

use std::collections::HashMap;

use super::{Access, Event, Prefetcher};

/// Candidates kept per key.
pub const WAYS: usize = 4;

/// The predictor's thresholds.
#[derive(Clone, Copy, Debug)]
pub struct LearnedConfig {
    /// A candidate must have been seen this many times.
    pub min_count: u16,
    /// … and make this share of its key's count.
    pub min_confidence: f32,
    /// Below this running accuracy the predictor only probes.
    pub min_accuracy: f32,
    /// When quiet, one proposal in this many is still made.
    pub probe_every: u32,
    /// Most blocks proposed per access.
    pub max_per_access: usize,
    /// Keys kept per table before the table is cleared (bounds memory).
    pub max_keys: usize,
}

impl Default for LearnedConfig {
    fn default() -> LearnedConfig {
        LearnedConfig {
            min_count: 2,
            min_confidence: 0.5,
            min_accuracy: 0.3,
            probe_every: 16,
            max_per_access: 4,
            max_keys: 1 << 21,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Ways {
    value: [i64; WAYS],
    count: [u16; WAYS],
}

impl Ways {
    fn train(&mut self, value: i64) {
        if let Some(i) = (0..WAYS).find(|&i| self.count[i] > 0 && self.value[i] == value) {
            self.count[i] = self.count[i].saturating_add(1);
            return;
        }
        let weakest = (0..WAYS).min_by_key(|&i| self.count[i]).unwrap_or(0);
        if self.count[weakest] > 0 {
            for c in &mut self.count {
                *c /= 2;
            }
        }
        self.value[weakest] = value;
        self.count[weakest] = 1;
    }

    fn confident(&self, config: &LearnedConfig) -> impl Iterator<Item = i64> + '_ {
        let total: u32 = self.count.iter().map(|&c| c as u32).sum();
        let (min_count, min_share) = (config.min_count, config.min_confidence);
        (0..WAYS)
            .filter(move |&i| {
                self.count[i] >= min_count && self.count[i] as f32 >= min_share * total as f32
            })
            .map(move |i| self.value[i])
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct LevelState {
    last: Option<u64>,
    last_delta: Option<i64>,
}

/// The learned predictor (successor and delta tables with confidence gates).
#[derive(Clone, Debug)]
pub struct Learned {
    config: LearnedConfig,
    levels: Vec<LevelState>,
    successors: HashMap<(u8, u64), Ways>,
    deltas: HashMap<(u8, i64), Ways>,
    /// Running share of loaded proposals that were used.
    accuracy: f32,
    quiet_counter: u32,
}

/// Weight of one outcome in the running accuracy.
const ACCURACY_STEP: f32 = 1.0 / 256.0;

impl Learned {
    /// A predictor with `config`'s thresholds.
    pub fn new(config: LearnedConfig) -> Learned {
        Learned {
            config,
            levels: Vec::new(),
            successors: HashMap::new(),
            deltas: HashMap::new(),
            accuracy: 1.0,
            quiet_counter: 0,
        }
    }

    /// The running share of loaded proposals that were used.
    pub fn running_accuracy(&self) -> f32 {
        self.accuracy
    }

    fn bound(&mut self) {
        if self.successors.len() > self.config.max_keys {
            self.successors.clear();
        }
        if self.deltas.len() > self.config.max_keys {
            self.deltas.clear();
        }
    }
}

impl Prefetcher for Learned {
    fn name(&self) -> String {
        format!(
            "learned-c{}-p{:.2}",
            self.config.min_count, self.config.min_confidence
        )
    }

    fn observe(&mut self, _: usize, access: &Access, event: Event, out: &mut Vec<u64>) {
        if event == Event::PrefetchHit {
            self.accuracy += ACCURACY_STEP * (1.0 - self.accuracy);
        }
        let level = access.level;
        if self.levels.len() <= level as usize {
            self.levels
                .resize(level as usize + 1, LevelState::default());
        }
        let state = self.levels[level as usize];
        let b = access.block;
        if state.last == Some(b) {
            return;
        }
        // Learn the transition that just happened.
        let delta = state.last.map(|p| b as i64 - p as i64);
        if let Some(p) = state.last {
            self.successors
                .entry((level, p))
                .or_default()
                .train(b as i64);
            if let (Some(ld), Some(d)) = (state.last_delta, delta) {
                self.deltas.entry((level, ld)).or_default().train(d);
            }
        }
        self.levels[level as usize] = LevelState {
            last: Some(b),
            last_delta: delta.or(state.last_delta),
        };
        self.bound();

        // Predict what follows `b`.
        let start = out.len();
        if let Some(ways) = self.successors.get(&(level, b)) {
            out.extend(ways.confident(&self.config).map(|v| v as u64));
        }
        if let Some(ways) = delta.and_then(|d| self.deltas.get(&(level, d))) {
            out.extend(
                ways.confident(&self.config)
                    .map(|d| b as i64 + d)
                    .filter(|&p| p >= 0)
                    .map(|p| p as u64),
            );
        }
        out.truncate(start + self.config.max_per_access);
        let proposed = out.len() - start;
        if proposed == 0 {
            return;
        }
        if self.accuracy < self.config.min_accuracy {
            self.quiet_counter += 1;
            if !self
                .quiet_counter
                .is_multiple_of(self.config.probe_every.max(1))
            {
                out.truncate(start);
                return;
            }
            out.truncate(start + 1);
        }
    }

    fn loaded(&mut self, _: u64) {
        // A loaded proposal counts as wasted until its use is observed.
        self.accuracy -= ACCURACY_STEP * self.accuracy;
    }
}
