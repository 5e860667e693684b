//! Learned thresholds: the knobs of `options::LADDERS` tuned to the running program by
//! windows that compete, rated by ELO, then frozen (`SACS_LEARN=1`; docs/learning.md).
//!
//! **Windows.** Time is cut into windows of `SACS_LEARN_WINDOW_MS`, or longer while a delay is
//! learned (`Ladder::window_ms`: the delay's longest candidate). The first thread whose slow
//! path (the shared purge look, `heap::tick::global_tick`) finds the current window over claims
//! its end with one compare-and-swap, measures it outside any lock, and scores it under a
//! try-lock; no HOT path is involved, and nothing allocates. A window's cost is
//! - its *time*: cycles spent in SACS's system calls, plus
//!   [`FAULT_CYCLES`](measure::FAULT_CYCLES) per page fault of the process (one `getrusage`
//!   per window), plus [`REFILL_CYCLES`](measure::REFILL_CYCLES) per refill from a shared
//!   structure (warm-pool prefills, big-cache misses, whale-ring misses, segments mapped), per
//!   allocation made in the window;
//! - its *memory*: bytes committed above the bytes in use at the window's end.
//!
//! Its score is `time / mean time + weight x memory / mean memory` (lower is better), the means
//! being running averages over all windows and the weight `SACS_LEARN_WEIGHT_PERCENT` / 100:
//! the same score `scripts/sweep.sh` gives a whole run, so that the learner can be judged
//! against the best fixed setting found by hand.
//!
//! **Games.** One knob is learned at a time, in `LADDERS` order, from its current value (the
//! default at first). Windows are played in pairs: one with every knob at its chosen value, one
//! with the knob being learned moved one step (a *challenger*: one of the chosen value's
//! neighbours on its ladder, picked by a softmax over their ratings, or at random with
//! probability [`EPSILON_IN_256`]/256), in random order. The pair is one game: the lower score
//! wins, scores within [`DRAW_BAND`] are a draw, and both ratings move by ELO. A challenger
//! rated [`MOVE_MARGIN`] above the chosen value replaces it, one step at a time (hysteresis).
//! The knob freezes when the chosen value leads each neighbour by [`MOVE_MARGIN`] after
//! [`MIN_GAMES`] games, after [`DRAWN_GAMES`] games that were all draws (the candidates cost
//! the same here), or after [`MAX_GAMES`] games whatever the ratings; then the next knob
//! is learned. Knobs whose tiers see no allocations are skipped (idle), and a knob set
//! explicitly is never moved.
//!
//! **Frozen.** When every knob is frozen, idle or explicit, windows only watch the workload's
//! signature (each tier's share of allocations and the allocation rate); when it moves away
//! from the one seen at freezing for [`SHIFT_WINDOWS`] windows in a row, the learner looks
//! among the last [`REMEMBERED`] workloads it froze for: if the new signature is near one, it
//! takes that workload's choices back, frozen (*recalled*: a program that alternates phases
//! learns each once); else learning re-opens, the ratings halfway back to the start.
//!
//! **Across runs.** With `SACS_LEARN_FILE` set, what was learned is kept in that file
//! ([`file`](mod@file)): read at the first window, written when learning freezes and at exit, so a
//! program too short to learn in one run learns over several.
//!
//! **Pressure.** While `pressure::active` (the memory cgroup near its limit), every knob not
//! set explicitly is moved to its leanest candidate at once, with or without learning, and
//! games stop; when the pressure ends the chosen values come back.

mod file;
mod math;
mod measure;
mod output;
mod signature;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::lock::Lock;
use crate::options::{self, Opt, CANDIDATES_MAX, KNOB_COUNT, LADDERS};
use crate::platform;
use crate::pressure;
use crate::stats::{KnobState, START_RATING, TIERS};

use math::{expected_score, pow10, round};
use measure::Reading;
pub use measure::Window;
use signature::Signature;

/// A window with fewer allocations is not scored (too little to measure). Low, because a
/// program that makes whales (2 MiB and up) makes a few dozen a window, each costly.
pub const MIN_ALLOCS: u64 = 16;
/// ELO's K: the most a rating moves in one game.
const K_FACTOR: f64 = 32.0;
/// Scores this close (relative) are a draw.
pub const DRAW_BAND: f64 = 0.05;
/// Points a challenger must lead the chosen value by to replace it, and the chosen value must
/// lead its neighbours by to freeze early.
pub const MOVE_MARGIN: i32 = 50;
/// Games a knob plays before it may freeze on its ratings.
pub const MIN_GAMES: u64 = 6;
/// Games after which a knob freezes whatever its ratings.
pub const MAX_GAMES: u64 = 12;
/// Games after which a knob whose games were all draws freezes where it is: its candidates
/// cost the same, within [`DRAW_BAND`], on this workload.
pub const DRAWN_GAMES: u64 = 4;
/// The softmax's temperature, in rating points: a lead of this many points makes a challenger
/// 10 times as likely to be picked.
const SOFTMAX_POINTS: f64 = 100.0;
/// Exploration: the challenger is picked at random with probability this / 256.
pub const EPSILON_IN_256: u64 = 32;
/// Windows in a row the signature must be off before learning re-opens.
pub const SHIFT_WINDOWS: u32 = 3;
/// Workloads remembered with the choices frozen for them (a program that alternates phases
/// gets each phase's choices back without learning them again).
pub const REMEMBERED: usize = 4;
/// A knob is idle when the tiers it tunes make less than this share of allocations.
const IDLE_SHARE: f64 = 1.0 / 1024.0;

/// The tiers (bits of `stats::Tier`) each knob of `LADDERS` tunes.
const KNOB_TIERS: [u8; KNOB_COUNT] = [
    0b1111, // purge delay: small pages, and dirty slices of every segment
    0b0100, // thread big cache
    0b1000, // whale waste bound
    0b0011, // warm pool
    0b0011, // prefill
    0b1100, // hot delay: big blocks and whales
    0b1100, // warm delay: big blocks and whales
];

/// The end of the current window (ms); 0 before the first.
static WINDOW_END: AtomicU64 = AtomicU64::new(0);
/// The shortest window the knob being learned needs (`Ladder::window_ms`).
static KNOB_WINDOW: AtomicU64 = AtomicU64::new(0);
/// Whether the pressure response moved the knobs to their lean ends.
static LEAN: AtomicBool = AtomicBool::new(false);
static LEARNER: Lock<Learner> = Lock::new(Learner::new());

/// The learner's look, from the shared purge look: closes the window if it is over.
#[inline(never)]
pub fn tick(now: u64) {
    let on = options::get(Opt::Learn) != 0;
    if !on && !pressure::active() && !LEAN.load(Relaxed) {
        return;
    }
    close_window_if_over(now, on);
}

/// [`tick`]'s work when learning is on or the knobs are held lean: closes the window if it is
/// over (one thread at a time).
#[inline(never)]
#[link_section = ".sacs_rare"]
fn close_window_if_over(now: u64, on: bool) {
    let end = WINDOW_END.load(Relaxed);
    let window = (options::get(Opt::LearnWindowMs) as u64)
        .max(KNOB_WINDOW.load(Relaxed))
        .max(1);
    if now < end
        || WINDOW_END
            .compare_exchange(end, now + window, Relaxed, Relaxed)
            .is_err()
    {
        return;
    }
    // Measured outside the lock: `platform::usage` is a system call, and so are the file's reads
    // and writes.
    let reading = Reading::now(now);
    let mut text = [0u8; file::FILE_MAX];
    let text_len = if on { file::read_once(&mut text) } else { 0 };
    let save = {
        let Some(mut learner) = LEARNER.try_lock() else {
            return;
        };
        let weight = options::get(Opt::LearnWeightPercent) as f64 / 100.0;
        learner.close(&reading, on, pressure::active(), weight, &text[..text_len]);
        learner.apply(on);
        learner.publish(on);
        // Learning froze in this window: keep it.
        (learner.froze && file::is_set()).then(|| {
            learner.froze = false;
            learner.save(&mut text)
        })
    };
    if let Some(n) = save {
        file::write(&text[..n]);
    }
}

/// One knob's learning state.
#[derive(Clone, Copy, Debug)]
struct Knob {
    /// Index of the chosen candidate in its ladder.
    chosen: usize,
    ratings: [i32; CANDIDATES_MAX],
    games: u64,
    state: KnobState,
}

/// What a window runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Play {
    /// Every knob at its chosen value.
    Chosen,
    /// The knob being learned at candidate `cand`.
    Challenger { cand: usize },
}

/// The learner.
pub struct Learner {
    last: Option<Reading>,
    knobs: [Knob; KNOB_COUNT],
    /// The knob being learned.
    current: Option<usize>,
    /// What the next window runs, and the score of the pair's first window (with what it ran).
    playing: Play,
    first: Option<(Play, f64)>,
    /// The challenger of the pair being played.
    challenger: usize,
    time_mean: f64,
    waste_mean: f64,
    signature: Signature,
    frozen_signature: Option<Signature>,
    shifted: u32,
    /// Signatures frozen before, with the knobs as they were then (oldest replaced first).
    memory: [Option<(Signature, [Knob; KNOB_COUNT])>; REMEMBERED],
    memory_next: usize,
    windows: u64,
    reopened: u64,
    recalled: u64,
    /// Times the state was taken from `SACS_LEARN_FILE` (0 or 1).
    restored: u64,
    /// Learning froze since the learner's file was last written.
    froze: bool,
    rng: u64,
}

impl Learner {
    /// A learner that has seen nothing, every knob at its default.
    pub const fn new() -> Learner {
        const KNOB: Knob = Knob {
            chosen: 0,
            ratings: [START_RATING; CANDIDATES_MAX],
            games: 0,
            state: KnobState::Waiting,
        };
        Learner {
            last: None,
            knobs: [KNOB; KNOB_COUNT],
            current: None,
            playing: Play::Chosen,
            first: None,
            challenger: 0,
            time_mean: 0.0,
            waste_mean: 0.0,
            signature: Signature {
                share: [0.0; TIERS],
                rate_log2: 0.0,
            },
            frozen_signature: None,
            shifted: 0,
            memory: [None; REMEMBERED],
            memory_next: 0,
            windows: 0,
            reopened: 0,
            recalled: 0,
            restored: 0,
            froze: false,
            rng: 0,
        }
    }

    /// Closes the window that ends at `r`.
    fn close(&mut self, r: &Reading, on: bool, pressured: bool, weight: f64, file: &[u8]) {
        let last = self.last.replace(*r);
        if last.is_none() {
            self.start(r.ms);
        }
        // The learner's file, read once, at the first window with learning on (which may come
        // after windows with learning off, when pressure started the learner).
        if !file.is_empty() {
            if self.restore(file) {
                self.restored += 1;
            }
            self.first = None;
            self.playing = Play::Chosen;
        }
        let Some(last) = last else {
            return;
        };
        if pressured || !on {
            // Games stop: a window under pressure (knobs at their lean ends) or with learning
            // off says nothing about the candidates. The pair in progress is dropped.
            self.first = None;
            self.playing = Play::Chosen;
            return;
        }
        let w = Window::between(&last, r);
        self.window(&w, weight);
    }

    /// Sets the knobs up at the first window: each at its default (or explicit).
    fn start(&mut self, seed: u64) {
        self.rng = (platform::clock::cycles() ^ seed.rotate_left(32)) | 1;
        for (k, ladder) in self.knobs.iter_mut().zip(LADDERS.iter()) {
            k.chosen = ladder.default_index();
            if options::is_explicit(ladder.opt) {
                k.state = KnobState::Explicit;
            }
        }
    }

    /// Scores a measured window and plays on. The learner's logic without any system input
    /// (the unit tests drive it with made-up windows).
    pub fn window(&mut self, w: &Window, weight: f64) {
        let allocs = w.total_allocs();
        if allocs < MIN_ALLOCS {
            return;
        }
        self.windows += 1;
        let sig = Signature::of(w);
        if self.windows == 1 {
            self.signature = sig;
        } else {
            self.signature.blend(&sig);
        }
        let time = w.time_cycles as f64 / allocs as f64;
        let waste = w.waste as f64;
        if self.windows == 1 {
            (self.time_mean, self.waste_mean) = (time, waste);
        } else {
            self.time_mean += (time - self.time_mean) / 8.0;
            self.waste_mean += (waste - self.waste_mean) / 8.0;
        }
        let score =
            time / self.time_mean.max(1.0) + weight * waste / self.waste_mean.max(1048576.0);

        if let Some(frozen) = self.frozen_signature {
            // Each window's own signature, not the running one, so that a phase that comes
            // back is recognised as soon as it has lasted `SHIFT_WINDOWS` windows.
            self.shifted = if sig.far_from(&frozen) {
                self.shifted + 1
            } else {
                0
            };
            if self.shifted < SHIFT_WINDOWS {
                return;
            }
            self.signature = sig;
            if self.recall() {
                return;
            }
            self.reopen();
        }
        if self.current.is_none() {
            self.next_knob();
            self.first = None;
            self.plan_pair();
            return;
        }
        match self.first.take() {
            None => {
                self.first = Some((self.playing, score));
                self.playing = match self.playing {
                    Play::Chosen => Play::Challenger {
                        cand: self.challenger,
                    },
                    Play::Challenger { .. } => Play::Chosen,
                };
            }
            Some((first_play, first_score)) => {
                let (chosen_score, challenger_score) = match first_play {
                    Play::Chosen => (first_score, score),
                    Play::Challenger { .. } => (score, first_score),
                };
                self.game(chosen_score, challenger_score);
                self.plan_pair();
            }
        }
    }

    /// Plays one game of the current knob: its chosen value against the pair's challenger.
    fn game(&mut self, chosen_score: f64, challenger_score: f64) {
        let Some(i) = self.current else { return };
        let cand = self.challenger;
        let k = &mut self.knobs[i];
        let result = if challenger_score < chosen_score * (1.0 - DRAW_BAND) {
            1.0
        } else if challenger_score > chosen_score * (1.0 + DRAW_BAND) {
            0.0
        } else {
            0.5
        };
        let expected = expected_score(k.ratings[cand], k.ratings[k.chosen]);
        let delta = round(K_FACTOR * (result - expected));
        k.ratings[cand] += delta;
        k.ratings[k.chosen] -= delta;
        k.games += 1;
        if k.ratings[cand] >= k.ratings[k.chosen] + MOVE_MARGIN {
            k.chosen = cand;
        }
        let len = LADDERS[i].candidates.len();
        let leads =
            neighbours(k.chosen, len).all(|n| k.ratings[k.chosen] >= k.ratings[n] + MOVE_MARGIN);
        // Draws between equal ratings move neither: ratings all at the start mean every game
        // so far was a draw (or the wins cancelled out exactly).
        let all_drawn = k.ratings[..len].iter().all(|&r| r == START_RATING);
        if (k.games >= MIN_GAMES && leads)
            || (k.games >= DRAWN_GAMES && all_drawn)
            || k.games >= MAX_GAMES
        {
            k.state = KnobState::Frozen;
            self.next_knob();
        }
    }

    /// Moves on to the next knob that can be learned (skipping idle and explicit ones), or
    /// freezes the whole when none is left.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn next_knob(&mut self) {
        let from = self.current.map_or(0, |i| i + 1);
        self.current = None;
        for (i, (k, &tiers)) in self
            .knobs
            .iter_mut()
            .zip(KNOB_TIERS.iter())
            .enumerate()
            .skip(from)
        {
            if k.state != KnobState::Waiting {
                continue;
            }
            if self.signature.share_of(tiers) < IDLE_SHARE {
                k.state = KnobState::Idle;
                continue;
            }
            k.state = KnobState::Learning;
            self.current = Some(i);
            return;
        }
        self.frozen_signature = Some(self.signature);
        self.shifted = 0;
        self.froze = true;
        self.remember();
    }

    /// Keeps the signature just frozen with its knobs: in place of a remembered one it is near
    /// (the same workload, learned again), else in place of the oldest.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn remember(&mut self) {
        let entry = Some((self.signature, self.knobs));
        let near = self
            .memory
            .iter()
            .position(|m| m.is_some_and(|(sig, _)| !sig.far_from(&self.signature)));
        if let Some(i) = near {
            self.memory[i] = entry;
        } else {
            self.memory[self.memory_next] = entry;
            self.memory_next = (self.memory_next + 1) % REMEMBERED;
        }
    }

    /// The workload moved to one frozen before: takes its knobs back, frozen. Returns whether
    /// one was found.
    fn recall(&mut self) -> bool {
        let found = self
            .memory
            .iter()
            .flatten()
            .find(|(sig, _)| !sig.far_from(&self.signature))
            .copied();
        let Some((sig, knobs)) = found else {
            return false;
        };
        for (k, was) in self.knobs.iter_mut().zip(knobs.iter()) {
            if k.state != KnobState::Explicit {
                *k = *was;
            }
        }
        self.recalled += 1;
        self.frozen_signature = Some(sig);
        self.shifted = 0;
        self.current = None;
        self.playing = Play::Chosen;
        self.first = None;
        true
    }

    /// Picks the next pair's challenger and which of its windows comes first.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn plan_pair(&mut self) {
        self.first = None;
        let Some(i) = self.current else {
            self.playing = Play::Chosen;
            return;
        };
        let k = self.knobs[i];
        let len = LADDERS[i].candidates.len();
        let mut options = [0usize; 2];
        let mut n = 0;
        for c in neighbours(k.chosen, len) {
            options[n] = c;
            n += 1;
        }
        let roll = self.random();
        self.challenger = if n == 1 {
            options[0]
        } else if roll % 256 < EPSILON_IN_256 {
            options[(roll >> 8) as usize % n]
        } else {
            // Softmax over the two neighbours' ratings.
            let d = (k.ratings[options[1]] - k.ratings[options[0]]) as f64;
            let p1 = 1.0 / (1.0 + pow10(-d / SOFTMAX_POINTS));
            let u = ((roll >> 16) % 1_000_000) as f64 / 1_000_000.0;
            options[(u < p1) as usize]
        };
        self.playing = if self.random() & 1 == 0 {
            Play::Chosen
        } else {
            Play::Challenger {
                cand: self.challenger,
            }
        };
    }

    /// The workload changed after freezing: every knob learns again from its chosen value,
    /// ratings halfway back to the start.
    fn reopen(&mut self) {
        self.reopened += 1;
        self.frozen_signature = None;
        self.shifted = 0;
        self.current = None;
        for k in self.knobs.iter_mut() {
            if k.state == KnobState::Explicit {
                continue;
            }
            k.state = KnobState::Waiting;
            k.games = 0;
            for r in k.ratings.iter_mut() {
                *r = (*r + START_RATING) / 2;
            }
        }
    }

    /// The candidate index knob `i` runs now.
    fn running(&self, i: usize) -> usize {
        match self.playing {
            Play::Challenger { cand } if self.current == Some(i) => cand,
            _ => self.knobs[i].chosen,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The neighbours of candidate `c` on a ladder of `len`.
fn neighbours(c: usize, len: usize) -> impl Iterator<Item = usize> {
    [c.wrapping_sub(1), c + 1]
        .into_iter()
        .filter(move |&n| n < len)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A window of small allocations whose cost depends on the value of knob 0 (the purge
    /// delay): `cost(value)` cycles per allocation, with a little noise.
    fn small_window(l: &Learner, cost: impl Fn(usize) -> f64, noise: &mut u64) -> Window {
        let value = LADDERS[0].candidates[l.running(0)];
        *noise = noise
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = 1.0 + ((*noise >> 40) % 100) as f64 / 2000.0; // up to 5 %
        let allocs = 10_000u64;
        Window {
            allocs: [allocs, 0, 0, 0],
            cpu_us: 50_000,
            time_cycles: (cost(value) * jitter * allocs as f64) as u64,
            waste: 8 << 20,
        }
    }

    pub(super) fn fresh() -> Learner {
        let mut l = Learner::new();
        l.rng = 12345;
        for (k, ladder) in l.knobs.iter_mut().zip(LADDERS.iter()) {
            let default = crate::options::OPTIONS[ladder.opt as usize].default;
            assert_eq!(
                ladder.candidates[ladder.default_index()],
                default,
                "the default is on its ladder"
            );
            k.chosen = ladder.default_index();
        }
        l
    }

    #[test]
    fn a_knob_moves_step_by_step_to_its_cheapest_value_and_freezes() {
        let mut l = fresh();
        let mut noise = 7;
        // Purge delay 50 ms costs 100 cycles per allocation, 10 ms 300, 0 ms 900.
        let cost = |v: usize| match v {
            50 => 100.0,
            10 => 300.0,
            _ => 900.0,
        };
        let mut windows = 0;
        while l.knobs[0].state != KnobState::Frozen {
            let w = small_window(&l, cost, &mut noise);
            l.window(&w, 1.0);
            windows += 1;
            assert!(
                windows < 2 * MAX_GAMES as usize + 4,
                "knob 0 froze within its games"
            );
        }
        assert_eq!(LADDERS[0].candidates[l.knobs[0].chosen], 50);
        assert!(l.knobs[0].ratings[2] > l.knobs[0].ratings[1]);
        // The knobs of tiers without allocations are idle; the small-page ones learn next.
        assert_eq!(
            l.current,
            Some(3),
            "the warm pool learns after the purge delay"
        );
        for i in [1, 2] {
            assert_eq!(l.knobs[i].state, KnobState::Idle, "knob {i}");
        }
        for i in [4, 5, 6] {
            assert_eq!(
                l.knobs[i].state,
                KnobState::Waiting,
                "knob {i} has not had its turn"
            );
        }
    }

    #[test]
    fn equal_candidates_freeze_after_a_few_drawn_games_and_a_shift_reopens() {
        let mut l = fresh();
        let mut noise = 3;
        let mut windows = 0;
        while l.frozen_signature.is_none() {
            let w = small_window(&l, |_| 200.0, &mut noise);
            l.window(&w, 1.0);
            windows += 1;
            assert!(
                windows < 3 * 2 * (MAX_GAMES as usize + 2),
                "all knobs froze"
            );
        }
        for i in [0, 3, 4] {
            assert_eq!(l.knobs[i].state, KnobState::Frozen, "knob {i}");
            // Every game a draw (costs within 5 %): frozen at the default, early.
            assert_eq!(l.knobs[i].games, DRAWN_GAMES, "knob {i}");
            assert_eq!(l.knobs[i].chosen, LADDERS[i].default_index(), "knob {i}");
        }
        // Same workload: stays frozen.
        for _ in 0..10 {
            let w = small_window(&l, |_| 200.0, &mut noise);
            l.window(&w, 1.0);
        }
        assert_eq!(l.reopened, 0);
        // Whales now: the signature moves and learning re-opens, whale knobs included.
        for _ in 0..(SHIFT_WINDOWS + 6) {
            l.window(
                &Window {
                    allocs: [0, 0, 0, 5_000],
                    cpu_us: 50_000,
                    time_cycles: 1_000_000,
                    waste: 64 << 20,
                },
                1.0,
            );
        }
        assert_eq!(l.reopened, 1);
        assert!(l.frozen_signature.is_none());
        assert!(l.current.is_some());
    }

    #[test]
    fn the_allocation_rate_is_per_cpu_millisecond() {
        let mut l = fresh();
        let mut noise = 11;
        while l.frozen_signature.is_none() {
            let w = small_window(&l, |_| 200.0, &mut noise);
            l.window(&w, 1.0);
        }
        // A window has no clock time in it: a process that the machine leaves waiting, or that
        // sleeps, makes the same windows. Eight times the allocations per CPU millisecond, tier
        // mix unchanged, is a new workload.
        for _ in 0..(SHIFT_WINDOWS + 6) {
            let mut w = small_window(&l, |_| 200.0, &mut noise);
            w.cpu_us /= 20;
            l.window(&w, 1.0);
        }
        assert_eq!(l.reopened, 1);
    }

    #[test]
    fn a_workload_seen_before_gets_its_choices_back() {
        let mut l = fresh();
        let mut noise = 5;
        while l.frozen_signature.is_none() {
            let w = small_window(&l, |_| 200.0, &mut noise);
            l.window(&w, 1.0);
        }
        let small_choices: std::vec::Vec<usize> = l.knobs.iter().map(|k| k.chosen).collect();
        // Big blocks only: a new workload, learned (every value costs the same: draws).
        let big = Window {
            allocs: [0, 0, 10_000, 0],
            cpu_us: 50_000,
            time_cycles: 2_000_000,
            waste: 8 << 20,
        };
        let mut n = 0;
        while l.reopened == 0 || l.frozen_signature.is_none() {
            l.window(&big, 1.0);
            n += 1;
            assert!(n < 400, "the big-block workload froze");
        }
        assert_eq!(
            l.knobs[6].state,
            KnobState::Frozen,
            "the warm delay was learned"
        );
        // Small blocks again: their choices come back, frozen, with no learning.
        for _ in 0..(SHIFT_WINDOWS + 2) {
            let w = small_window(&l, |_| 200.0, &mut noise);
            l.window(&w, 1.0);
        }
        assert_eq!((l.reopened, l.recalled), (1, 1));
        assert!(l.frozen_signature.is_some() && l.current.is_none());
        let now: std::vec::Vec<usize> = l.knobs.iter().map(|k| k.chosen).collect();
        assert_eq!(now, small_choices);
        assert_eq!(
            l.knobs[6].state,
            KnobState::Idle,
            "as it was for small blocks"
        );
    }

    #[test]
    fn memory_weighs_by_the_weight() {
        // Two values equal in time; 0 ms keeps far less memory. With weight 1 the lean value
        // wins, with weight 0 it is a draw (and the knob freezes after its most games).
        for (weight, want_lean) in [(1.0, true), (0.0, false)] {
            let mut l = fresh();
            let mut noise = 11;
            while l.knobs[0].state != KnobState::Frozen {
                let value = LADDERS[0].candidates[l.running(0)];
                let mut w = small_window(&l, |_| 200.0, &mut noise);
                w.waste = if value == 0 { 1 << 20 } else { 32 << 20 };
                l.window(&w, weight);
            }
            let chosen = LADDERS[0].candidates[l.knobs[0].chosen];
            assert_eq!(chosen == 0, want_lean, "weight {weight}: chose {chosen}");
        }
    }
}
