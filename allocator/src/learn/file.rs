//! The learner's file (`SACS_LEARN_FILE`): what it learned, kept from one run of a program to
//! the next, so that a program run many times, each run too short to learn in, resumes where
//! the last run stopped. A few lines of text, written whole into `PATH.tmp` and renamed over
//! `PATH`, so that a reader never sees half a file:
//!
//! ```text
//! sacs-learn 1
//! signature 998 2 0 0 1234
//! SACS_PURGE_DELAY_MS 50 frozen 8 1472 1539 1488
//! SACS_WARM_MS 600 waiting 3 1484 1516 1500 1500
//! ```
//!
//! `signature`, present when learning was frozen, is the workload it froze for: each tier's
//! share of allocations in thousandths and the log2 of the allocation rate (per ms) in
//! hundredths. A knob's line is its option's name, its chosen value, its state (`waiting`,
//! `learning`, `frozen`, `idle`), its games and its candidates' ratings in ladder order. Lines
//! that do not parse, knobs whose value is not on their ladder and knobs set explicitly are
//! left out; a file of another version is ignored whole. The file is read at the first window
//! (outside any lock) and written when learning freezes and at exit.

use core::sync::atomic::AtomicBool;
use core::sync::atomic::Ordering::Relaxed;

use super::{Learner, Signature};
use crate::options::{self, TextOpt, LADDERS, OPTIONS, TEXT_MAX};
use crate::platform;
use crate::stats::{KnobState, Writer, KNOB_STATE_NAMES, TIERS};

/// The longest file read or written.
pub const FILE_MAX: usize = 1024;

const HEADER: &[u8] = b"sacs-learn 1";

/// The file's path, NUL-terminated, with room for a `.tmp` suffix; `None` when it is not set.
fn path() -> Option<([u8; TEXT_MAX + 5], usize)> {
    let mut text = [0u8; TEXT_MAX];
    let len = options::text(TextOpt::LearnFile, &mut text)?;
    let mut path = [0u8; TEXT_MAX + 5];
    path[..len].copy_from_slice(&text[..len]);
    Some((path, len))
}

/// Whether a file is set.
pub fn is_set() -> bool {
    path().is_some()
}

/// Reads the file into `buf`; returns its length (0 when it is not set or cannot be read).
pub fn read(buf: &mut [u8; FILE_MAX]) -> usize {
    match path() {
        Some((path, len)) => platform::read_file(&path[..len + 1], buf),
        None => 0,
    }
}

/// Whether the first window with learning on has read the learner's file.
static FILE_READ: AtomicBool = AtomicBool::new(false);

/// The first time it is called (the first window with learning on): reads the file into `buf`
/// and has what the learner knows written back at exit; returns the length read (0 when it
/// read nothing, or not the first time).
pub fn read_once(buf: &mut [u8; FILE_MAX]) -> usize {
    if FILE_READ.swap(true, Relaxed) || !is_set() {
        return 0;
    }
    platform::at_exit(save_at_exit);
    read(buf)
}

/// At exit: writes what the learner knows to its file (if no other thread is inside it).
#[link_section = ".sacs_rare"]
extern "C" fn save_at_exit(_: *mut core::ffi::c_void) {
    let mut text = [0u8; FILE_MAX];
    let n = match super::LEARNER.try_lock() {
        Some(learner) => learner.save(&mut text),
        None => return,
    };
    write(&text[..n]);
}

/// Writes `text` as the whole file: into `PATH.tmp`, then renamed over `PATH`.
#[inline(never)]
#[link_section = ".sacs_rare"]
pub fn write(text: &[u8]) {
    let Some((mut path, len)) = path() else {
        return;
    };
    let mut tmp = path;
    tmp[len..len + 5].copy_from_slice(b".tmp\0");
    let fd = platform::open_truncate(&tmp[..len + 5]);
    if fd < 0 {
        return;
    }
    platform::write_fd(fd, text);
    platform::close(fd);
    path[len] = 0;
    platform::rename(&tmp[..len + 5], &path[..len + 1]);
}

impl Learner {
    /// Writes what the learner knows in the file's format into `out`; returns the length.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub(super) fn save(&self, out: &mut [u8; FILE_MAX]) -> usize {
        let mut w = Writer::new(out);
        w.raw(HEADER);
        if let Some(sig) = self.frozen_signature {
            w.s("\nsignature");
            for share in sig.share {
                w.s(" ");
                signed(&mut w, (share * 1000.0) as i64);
            }
            w.s(" ");
            signed(&mut w, (sig.rate_log2 * 100.0) as i64);
        }
        for (k, ladder) in self.knobs.iter().zip(LADDERS.iter()) {
            if k.state == KnobState::Explicit {
                continue;
            }
            w.s("\n");
            w.s(OPTIONS[ladder.opt as usize].name);
            w.s(" ");
            w.num(ladder.candidates[k.chosen] as u64);
            w.s(" ");
            w.s(KNOB_STATE_NAMES[k.state as usize]);
            w.s(" ");
            w.num(k.games);
            for r in &k.ratings[..ladder.candidates.len()] {
                w.s(" ");
                signed(&mut w, *r as i64);
            }
        }
        w.s("\n");
        w.len
    }

    /// Takes back what a file written by [`Learner::save`] says, over the defaults; returns
    /// whether the file was one (of this version).
    pub(super) fn restore(&mut self, text: &[u8]) -> bool {
        let mut lines = text.split(|&b| b == b'\n');
        if lines.next() != Some(HEADER) {
            return false;
        }
        let mut signature = None;
        for line in lines {
            let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
            let Some(first) = words.next() else { continue };
            if first == b"signature" {
                let mut sig = Signature::default();
                let mut ok = true;
                for share in sig.share.iter_mut() {
                    match words.next().and_then(parse_int) {
                        Some(v) => *share = v as f64 / 1000.0,
                        None => ok = false,
                    }
                }
                match words.next().and_then(parse_int) {
                    Some(v) => sig.rate_log2 = v as f64 / 100.0,
                    None => ok = false,
                }
                if ok {
                    signature = Some(sig);
                }
                continue;
            }
            let Some(i) = LADDERS
                .iter()
                .position(|l| OPTIONS[l.opt as usize].name.as_bytes() == first)
            else {
                continue;
            };
            let ladder = &LADDERS[i];
            let k = &mut self.knobs[i];
            if k.state == KnobState::Explicit {
                continue;
            }
            let value = words.next().and_then(parse_int);
            let state = words.next();
            let games = words.next().and_then(parse_int);
            let (Some(value), Some(state), Some(games)) = (value, state, games) else {
                continue;
            };
            let Some(chosen) = ladder.candidates.iter().position(|&c| c as i64 == value) else {
                continue;
            };
            let mut ratings = k.ratings;
            let mut complete = true;
            for r in ratings.iter_mut().take(ladder.candidates.len()) {
                match words.next().and_then(parse_int) {
                    Some(v) => *r = v as i32,
                    None => complete = false,
                }
            }
            if !complete {
                continue;
            }
            k.chosen = chosen;
            k.games = games.max(0) as u64;
            k.ratings = ratings;
            k.state = match state {
                b"frozen" => KnobState::Frozen,
                b"idle" => KnobState::Idle,
                _ => KnobState::Waiting,
            };
        }
        // Learning resumes from the file's state: the next window picks the knob to play.
        self.current = None;
        let settled = self.knobs.iter().all(|k| {
            matches!(
                k.state,
                KnobState::Frozen | KnobState::Idle | KnobState::Explicit
            )
        });
        match signature {
            Some(sig) if settled => {
                self.signature = sig;
                self.frozen_signature = Some(sig);
                self.remember();
            }
            _ => {
                // Not frozen: learning resumes at the first knob still waiting.
                for k in self.knobs.iter_mut() {
                    if k.state == KnobState::Idle {
                        k.state = KnobState::Waiting;
                    }
                }
            }
        }
        debug_assert!(self.knobs.len() == LADDERS.len() && TIERS == 4);
        true
    }
}

/// Writes `v` in decimal, with a minus sign when negative.
fn signed(w: &mut Writer, v: i64) {
    if v < 0 {
        w.s("-");
    }
    w.num(v.unsigned_abs());
}

/// A decimal integer, optionally negative.
fn parse_int(word: &[u8]) -> Option<i64> {
    let (negative, digits) = match word.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, word),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().fold(0i64, |v, &d| v * 10 + (d - b'0') as i64);
    Some(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::super::tests::fresh;
    use super::*;

    #[test]
    fn a_saved_learner_reads_back_the_same() {
        let mut l = fresh();
        l.knobs[0].chosen = 2;
        l.knobs[0].games = 8;
        l.knobs[0].ratings[..3].copy_from_slice(&[1472, 1539, 1488]);
        l.knobs[0].state = KnobState::Frozen;
        l.knobs[6].games = 3; // the warm delay
        l.knobs[6].ratings[0] = -20;
        l.knobs[4].state = KnobState::Explicit; // the prefill count
        let mut buf = [0u8; FILE_MAX];
        let n = l.save(&mut buf);
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            text.starts_with("sacs-learn 1\nSACS_PURGE_DELAY_MS 50 frozen 8 1472 1539 1488\n"),
            "{text}"
        );
        assert!(
            text.contains("SACS_WARM_MS 600 waiting 3 -20 1500 1500 1500\n"),
            "{text}"
        );
        assert!(
            !text.contains("SACS_PREFILL_PAGES"),
            "explicit knobs are not saved: {text}"
        );

        let mut back = fresh();
        assert!(back.restore(&buf[..n]));
        for i in [0, 1, 2, 3, 5, 6] {
            let (a, b) = (&l.knobs[i], &back.knobs[i]);
            assert_eq!(
                (a.chosen, a.games, a.ratings, a.state),
                (b.chosen, b.games, b.ratings, b.state),
                "knob {i}"
            );
        }
        assert!(back.frozen_signature.is_none(), "not frozen: no signature");
    }

    #[test]
    fn the_first_window_takes_the_file_and_counts_it() {
        let mut saved = fresh();
        saved.knobs[0].state = KnobState::Frozen;
        let mut buf = [0u8; FILE_MAX];
        let n = saved.save(&mut buf);
        let mut l = fresh();
        l.close(
            &super::super::measure::Reading::now(1),
            true,
            false,
            0.5,
            &buf[..n],
        );
        assert_eq!(l.restored, 1);
        assert_eq!(l.knobs[0].state, KnobState::Frozen);
        let mut other = fresh();
        other.close(
            &super::super::measure::Reading::now(1),
            true,
            false,
            0.5,
            b"sacs-learn 2\n",
        );
        assert_eq!(other.restored, 0, "a file of another version is not taken");
    }

    #[test]
    fn a_frozen_learner_comes_back_frozen_and_bad_lines_are_skipped() {
        let mut l = fresh();
        for k in l.knobs.iter_mut() {
            k.state = KnobState::Idle;
        }
        l.knobs[0].state = KnobState::Frozen;
        l.knobs[0].chosen = 0;
        l.frozen_signature = Some(Signature {
            share: [0.75, 0.25, 0.0, 0.0],
            rate_log2: -2.5,
        });
        let mut buf = [0u8; FILE_MAX];
        let n = l.save(&mut buf);
        let mut text = std::vec::Vec::from(&buf[..n]);
        text.extend_from_slice(
            b"SACS_HOT_MS 77 frozen 1 1500 1500 1500\nnonsense line\nSACS_WARM_MS 600\n",
        );
        let mut back = fresh();
        assert!(back.restore(&text));
        let sig = back.frozen_signature.expect("frozen");
        assert_eq!(sig.share[0], 0.75);
        assert_eq!(sig.rate_log2, -2.5);
        assert_eq!(back.knobs[0].state, KnobState::Frozen);
        assert_eq!(LADDERS[0].candidates[back.knobs[0].chosen], 0);
        assert_eq!(
            LADDERS[5].candidates[back.knobs[5].chosen], 100,
            "77 is not on the ladder"
        );

        let mut other = fresh();
        assert!(!other.restore(b"sacs-learn 2\nSACS_PURGE_DELAY_MS 0 frozen 1 1 1 1\n"));
        assert_eq!(
            LADDERS[0].candidates[other.knobs[0].chosen], 10,
            "another version is ignored"
        );
        assert_eq!(parse_int(b"-12"), Some(-12));
        assert_eq!(parse_int(b"1x"), None);
        assert_eq!(parse_int(b"-"), None);
    }
}
