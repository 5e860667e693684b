//! Leap's majority-trend prefetcher (Al Maruf & Chowdhury, "Effectively Prefetching Remote
//! Memory with Leap", USENIX ATC 2020), from the paper's description:
//!
//! - it keeps a history of the last `history` slow-path accesses (demand misses and first uses
//!   of prefetched blocks) and their deltas (block id minus the previous one);
//! - on a miss it looks for the *majority* delta (more than half) among the most recent `w`
//!   deltas with the Boyer-Moore majority vote, starting at `w = history / 4` and doubling `w`
//!   up to the whole history while no majority is found;
//! - the prefetch window adapts to how many of its last prefetches were used (`hits`): with
//!   hits, the next power of two above `hits + 1`, at most `max_window`; without, it shrinks,
//!   but never faster than by half per miss (the paper's smoothing);
//! - with a trend `d` it fetches `b + d, b + 2d, …` (window size); with none it follows the
//!   last trend found, if any. It does so on a miss and on the first use of a prefetched
//!   block (in Leap a prefetched page's first use still enters its fault path); the window is
//!   resized on misses only, from the uses counted since the last miss.
//!
//! Where the paper leaves a detail open, this reading chooses: a window that has shrunk to 0
//! probes with 1 block when a trend is found (else Leap could never learn that prefetching
//! pays again). The field's stream interleaves its levels, whose block ids lie in separate
//! tables; each level keeps its own history (as Leap keeps one per process).

use std::collections::VecDeque;

use super::{Access, Event, Prefetcher};

#[derive(Clone, Debug, Default)]
struct Stream {
    last: Option<u64>,
    deltas: VecDeque<i64>,
    last_trend: Option<i64>,
    window: usize,
    hits: usize,
}

/// Leap's prefetcher, one history per level.
#[derive(Clone, Debug)]
pub struct Leap {
    history: usize,
    max_window: usize,
    streams: Vec<Stream>,
}

impl Leap {
    /// A history of `history` deltas (the paper uses 32) and a window of at most
    /// `max_window` blocks (the paper uses 8).
    pub fn new(history: usize, max_window: usize) -> Leap {
        Leap {
            history: history.max(2),
            max_window: max_window.max(1),
            streams: Vec::new(),
        }
    }

    /// The majority element of `deltas` (more than half of them), by Boyer-Moore vote.
    pub fn majority(deltas: impl Iterator<Item = i64> + Clone) -> Option<i64> {
        let (mut candidate, mut votes) = (0i64, 0usize);
        for d in deltas.clone() {
            if votes == 0 {
                candidate = d;
                votes = 1;
            } else if d == candidate {
                votes += 1;
            } else {
                votes -= 1;
            }
        }
        let (count, total) = deltas.fold((0usize, 0usize), |(c, t), d| {
            (c + (d == candidate) as usize, t + 1)
        });
        (votes > 0 && count * 2 > total).then_some(candidate)
    }

    fn find_trend(&self, s: &Stream) -> Option<i64> {
        let n = s.deltas.len();
        let mut w = (self.history / 4).max(2).min(n);
        while w > 0 {
            if let Some(d) = Leap::majority(s.deltas.iter().skip(n - w).copied()) {
                return Some(d);
            }
            if w == n {
                break;
            }
            w = (w * 2).min(n);
        }
        None
    }
}

impl Prefetcher for Leap {
    fn name(&self) -> String {
        format!("leap-h{}-w{}", self.history, self.max_window)
    }

    fn observe(&mut self, _: usize, access: &Access, event: Event, out: &mut Vec<u64>) {
        if event == Event::Hit {
            return;
        }
        let level = access.level as usize;
        if self.streams.len() <= level {
            self.streams.resize_with(level + 1, Stream::default);
        }
        let mut s = std::mem::take(&mut self.streams[level]);
        if let Some(last) = s.last {
            s.deltas.push_back(access.block as i64 - last as i64);
            if s.deltas.len() > self.history {
                s.deltas.pop_front();
            }
        }
        s.last = Some(access.block);
        if event == Event::PrefetchHit {
            s.hits += 1;
        } else {
            let raw = if s.hits == 0 {
                0
            } else {
                (s.hits + 1).next_power_of_two().min(self.max_window)
            };
            s.window = raw.max(s.window / 2);
            s.hits = 0;
        }
        let trend = self.find_trend(&s);
        if trend.is_some() {
            s.last_trend = trend;
        }
        let size = if trend.is_some() {
            s.window.max(1)
        } else {
            s.window
        };
        if let Some(d) = s.last_trend.filter(|&d| d != 0) {
            let b = access.block as i64;
            out.extend(
                (1..=size as i64)
                    .map(|k| b + k * d)
                    .filter(|&p| p >= 0)
                    .map(|p| p as u64),
            );
        }
        self.streams[level] = s;
    }
}
