//! The statistics table: [`Stats::write_table`] renders a snapshot as text into a caller's
//! fixed buffer, without allocating (`SACS_STATS=1` at exit, `malloc_stats()`). Its [`Writer`]
//! also writes the heap profile (`site::profile`).

use super::{Stats, KNOB_STATE_NAMES, TIER_NAMES};
use crate::options::{LADDERS, OPTIONS};
use crate::platform::SYSCALL_NAMES;

impl Stats {
    /// Writes the statistics as a readable table into `buf` and returns the number of bytes
    /// written (the table is cut short if `buf` is too small; 8 KiB is always enough).
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub fn write_table(&self, buf: &mut [u8]) -> usize {
        let mut w = Writer::new(buf);
        w.s("sacs statistics\n");
        w.s("  process     pid ");
        w.num(self.pid as u64);
        w.s(" (");
        w.raw(self.program());
        w.s("), ");
        w.num(self.elapsed_ms / 1000);
        let hundredths = self.elapsed_ms % 1000 / 10;
        w.s(if hundredths < 10 { ".0" } else { "." });
        w.num(hundredths);
        w.s(" s since SACS started\n");
        w.s("  tier        allocs          frees         in use\n");
        for (i, t) in self.tiers.iter().enumerate() {
            w.s("  ");
            w.pad(TIER_NAMES[i], 6);
            w.num_w(t.allocs, 14);
            w.num_w(t.frees, 15);
            w.right(15, |w| w.bytes(t.in_use_bytes as usize));
            w.s("\n");
        }
        w.s("  total ");
        w.num_w(self.allocs(), 14);
        w.num_w(self.frees(), 15);
        w.right(15, |w| w.bytes(self.in_use_bytes() as usize));
        w.s("\n");
        w.s("  warm pool   hits ");
        w.num(self.warm_pool_hits);
        w.s(", prefills ");
        w.num(self.warm_pool_prefills);
        w.s(", hit rate ");
        w.percent(
            self.warm_pool_hits,
            self.warm_pool_hits + self.warm_pool_prefills,
        );
        w.s(", remote collects ");
        w.num(self.remote_collects);
        w.s(", from a larger class ");
        w.num(self.larger_class_blocks);
        w.s("\n  big cache   hits ");
        w.num(self.big_cache_hits);
        w.s(", misses ");
        w.num(self.big_cache_misses);
        w.s(", hit rate ");
        w.percent(
            self.big_cache_hits,
            self.big_cache_hits + self.big_cache_misses,
        );
        w.s(", warmed ");
        w.num(self.big_cache_warmed);
        w.s(", cooled ");
        w.num(self.big_cache_cooled);
        w.s(", uncached ");
        w.num(self.big_cache_uncached);
        w.s(", taken idle ");
        w.num(self.big_cache_taken_idle);
        w.s(", from other arenas ");
        w.num(self.big_cache_from_other_arena);
        w.s(", holds ");
        w.bytes(self.big_cache_bytes);
        w.s("\n              arena passes ");
        w.num(self.big_arena_passes);
        w.s(", hot delay raised ");
        w.num(self.hot_delay_raised);
        w.s(", lowered ");
        w.num(self.hot_delay_lowered);
        w.s(", cold delay raised ");
        w.num(self.cold_delay_raised);
        w.s(", lowered ");
        w.num(self.cold_delay_lowered);
        w.s("\n  whale ring  hits ");
        w.num(self.whale_ring_hits);
        w.s(", misses ");
        w.num(self.whale_ring_misses);
        w.s(", hit rate ");
        w.percent(
            self.whale_ring_hits,
            self.whale_ring_hits + self.whale_ring_misses,
        );
        w.s(", evictions ");
        w.num(self.whale_ring_evictions);
        w.s(", expired ");
        w.num(self.whale_ring_expired);
        w.s("\n              grown ");
        w.num(self.whale_ring_grown);
        w.s(", split ");
        w.num(self.whale_ring_splits);
        w.s(", trimmed ");
        w.num(self.whale_ring_trims);
        w.s(", merged ");
        w.num(self.whale_ring_merges);
        w.s(", holds ");
        w.bytes(self.whale_ring_bytes);
        w.s(" of ");
        w.bytes(self.whale_ring_budget);
        w.s(", budget raised ");
        w.num(self.whale_budget_raised);
        w.s(", lowered ");
        w.num(self.whale_budget_lowered);
        w.s("\n  segments    mapped ");
        w.num(self.segments_mapped);
        w.s(", unmapped ");
        w.num(self.segments_unmapped);
        w.s(", reused ");
        w.num(self.segments_reused);
        w.s(", lent ");
        w.num(self.segments_lent);
        w.s(", unpinned ");
        w.num(self.segments_unpinned);
        w.s(", abandoned ");
        w.num(self.segments_abandoned);
        w.s(", adopted ");
        w.num(self.segments_adopted);
        w.s(", in space ");
        w.num(self.segments_in_space);
        w.s(" (slots ");
        w.num(self.segment_space_slots);
        w.s(")");
        w.s("\n  purge       runs ");
        w.num(self.purged_runs);
        w.s(", bytes ");
        w.bytes(self.purged_bytes as usize);
        w.s(", holes punched ");
        w.num(self.holes_punched);
        w.s(", filled ");
        w.num(self.holes_filled);
        w.s(", idle heaps' slices ");
        w.num(self.idle_heap_slices);
        w.s(", delay raised ");
        w.num(self.purge_delay_raised);
        w.s(", lowered ");
        w.num(self.purge_delay_lowered);
        w.s("\n  threads     heaps created ");
        w.num(self.heaps_created);
        w.s(", retired ");
        w.num(self.heaps_retired);
        w.s(", invalid frees ");
        w.num(self.invalid_frees);
        w.s(", taken over ");
        w.num(self.heaps_taken_over);
        w.s("\n  pressure    checks ");
        w.num(self.pressure_checks);
        w.s(", under pressure ");
        w.num(self.pressure_found);
        if self.pressure_limit != 0 {
            w.s(", working set ");
            w.bytes(self.pressure_working as usize);
            w.s(" of ");
            w.bytes(self.pressure_limit as usize);
        }
        if self.pressure_checks != 0 {
            w.s(", memory stall ");
            w.num(self.pressure_stall / 100);
            w.s(if self.pressure_stall % 100 < 10 {
                ".0"
            } else {
                "."
            });
            w.num(self.pressure_stall % 100);
            w.s("%");
        }
        if self.learn.shown() {
            self.write_learning(&mut w);
        }
        w.s("\n  sites       samples ");
        w.num(self.site_samples);
        w.s(", short ");
        w.num(self.site_short);
        w.s(", long ");
        w.num(self.site_long);
        w.s(", rules ");
        w.num(
            self.site_rules_adopted
                .saturating_sub(self.site_rules_dropped),
        );
        w.s(", adopted ");
        w.num(self.site_rules_adopted);
        w.s(", dropped ");
        w.num(self.site_rules_dropped);
        w.s(", evicted ");
        w.num(self.site_rules_evicted);
        w.s("\n              predictions right ");
        w.num(self.site_predicted_right);
        w.s(", wrong ");
        w.num(self.site_predicted_wrong);
        w.s(", accuracy ");
        w.percent(
            self.site_predicted_right,
            self.site_predicted_right + self.site_predicted_wrong,
        );
        w.s(", unpredicted ");
        w.num(self.site_unpredicted);
        w.s("\n              long-lived allocs ");
        w.num(self.site_long_allocs);
        w.s(", pages ");
        w.num(self.site_long_pages);
        w.s(" (");
        w.bytes(self.site_long_page_bytes as usize);
        w.s("), relabelled ");
        w.num(self.site_pages_relabelled);
        w.s("\n              big allocs ");
        w.num(self.site_big_allocs);
        w.s(", kept ");
        w.num(self.site_big_kept);
        w.s(", released at free ");
        w.num(self.site_big_released);
        w.s(", gaps as predicted ");
        w.percent(
            self.site_big_right,
            self.site_big_right + self.site_big_wrong,
        );
        w.s(" of ");
        w.num(self.site_big_right + self.site_big_wrong);
        w.s("\n  syscall                 calls        cycles   failures\n");
        for (i, s) in self.syscalls.iter().enumerate() {
            w.s("  ");
            w.pad(SYSCALL_NAMES[i], 18);
            w.num_w(s.calls, 11);
            w.num_w(s.cycles, 14);
            w.num_w(s.failures, 11);
            w.s("\n");
        }
        w.s("  memory      committed ");
        w.bytes(self.committed_bytes);
        w.s(", peak ");
        w.bytes(self.peak_committed_bytes);
        w.s(", mapped ");
        w.bytes(self.mapped_bytes);
        w.s(", resident (process) ");
        w.bytes(self.resident_bytes);
        w.s("\n");
        w.len
    }
}

/// Appends text to a fixed buffer, dropping what does not fit.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pub(crate) len: usize,
}

impl<'a> Writer<'a> {
    /// A writer that fills `buf` from its start.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Appends raw bytes (text from outside, such as a symbol's name).
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    /// Appends `v` in hexadecimal with a `0x` prefix.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub(crate) fn hex(&mut self, v: usize) {
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        let mut v = v;
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[v & 15];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        self.s("0x");
        self.raw(&digits[i..]);
    }

    /// Appends what `f` writes, right-aligned in `width` columns (cut at 32 bytes).
    pub(crate) fn right(&mut self, width: usize, f: impl FnOnce(&mut Writer)) {
        let mut scratch = [0u8; 32];
        let mut inner = Writer::new(&mut scratch);
        f(&mut inner);
        let n = inner.len;
        for _ in n..width {
            self.s(" ");
        }
        self.raw(&scratch[..n]);
    }

    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub(crate) fn s(&mut self, text: &str) {
        for &b in text.as_bytes() {
            if self.len == self.buf.len() {
                return;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    #[inline(never)]
    pub(crate) fn pad(&mut self, text: &str, width: usize) {
        self.s(text);
        for _ in text.len()..width {
            self.s(" ");
        }
    }

    #[inline(never)]
    pub(crate) fn num(&mut self, v: u64) {
        let mut digits = [0u8; 20];
        let text = format_decimal(v, &mut digits);
        self.s(text);
    }

    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub(crate) fn num_w(&mut self, v: u64, width: usize) {
        let mut digits = [0u8; 20];
        let text = format_decimal(v, &mut digits);
        for _ in text.len()..width {
            self.s(" ");
        }
        self.s(text);
    }

    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub(crate) fn percent(&mut self, part: u64, whole: u64) {
        if whole == 0 {
            self.s("-");
            return;
        }
        let tenths = part * 1000 / whole;
        self.num(tenths / 10);
        self.s(".");
        self.num(tenths % 10);
        self.s("%");
    }

    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub(crate) fn bytes(&mut self, v: usize) {
        const UNITS: [&str; 4] = [" B", " KiB", " MiB", " GiB"];
        let mut unit = 0;
        let mut scaled = v as u64 * 10;
        while scaled >= 10 * 1024 && unit < UNITS.len() - 1 {
            scaled /= 1024;
            unit += 1;
        }
        self.num(scaled / 10);
        if unit > 0 {
            self.s(".");
            self.num(scaled % 10);
        }
        self.s(UNITS[unit]);
    }
}

/// Formats `v` in decimal into `digits`, returning the used tail as text.
#[link_section = ".sacs_rare"]
pub fn format_decimal(mut v: u64, digits: &mut [u8; 20]) -> &str {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // SAFETY: only ASCII digits were written to `digits[i..]`.
    unsafe { core::str::from_utf8_unchecked(&digits[i..]) }
}

impl Stats {
    /// The learner's lines: a summary, then one line per knob with its state, value, games and
    /// each candidate's rating (the running candidate marked `*`).
    fn write_learning(&self, w: &mut Writer) {
        let l = &self.learn;
        w.s("\n  learning    ");
        w.s(if l.enabled { "on" } else { "off" });
        w.s(", windows ");
        w.num(l.windows);
        w.s(", frozen for ");
        w.num(l.frozen_windows);
        w.s(", re-opened ");
        w.num(l.reopened);
        w.s(", recalled ");
        w.num(l.recalled);
        w.s(", restored ");
        w.num(l.restored);
        w.s(", pressure lean ");
        w.num(l.pressure_lean);
        for (k, ladder) in l.knobs.iter().zip(LADDERS.iter()) {
            w.s("\n    ");
            w.pad(OPTIONS[ladder.opt as usize].name, 26);
            w.pad(KNOB_STATE_NAMES[k.state as usize], 9);
            w.num_w(k.value as u64, 5);
            w.s("  games ");
            w.num_w(k.games, 3);
            w.s("  ratings");
            for (i, &c) in ladder.candidates.iter().enumerate() {
                w.s(if c == k.value { " *" } else { "  " });
                w.num(c as u64);
                w.s(":");
                w.num(k.ratings[i].max(0) as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formatting() {
        let mut d = [0u8; 20];
        assert_eq!(format_decimal(0, &mut d), "0");
        assert_eq!(format_decimal(1234567890, &mut d), "1234567890");
        assert_eq!(format_decimal(u64::MAX, &mut d), "18446744073709551615");
    }

    #[test]
    fn table_fits_and_names_things() {
        let mut s = Stats::default();
        s.tiers[0].allocs = 42;
        s.whale_ring_hits = 3;
        s.whale_ring_misses = 1;
        s.committed_bytes = 3 << 20;
        let mut buf = [0u8; 8192];
        let n = s.write_table(&mut buf);
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.contains("tiny"));
        assert!(text.contains("42"));
        assert!(text.contains("75.0%"));
        assert!(text.contains("3.0 MiB"));
        assert!(text.contains("mremap"));
        assert!(n < 8192, "the table must fit 8 KiB");
        // A small buffer is cut, never overrun.
        let mut small = [0u8; 10];
        assert_eq!(s.write_table(&mut small), 10);
    }

    #[test]
    fn writer_aligns_hex_and_cuts() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        w.s("[");
        w.right(8, |w| w.bytes(3 << 20));
        w.s("] ");
        w.hex(0x1a2b);
        w.s(" ");
        w.hex(0);
        let n = w.len;
        assert_eq!(
            core::str::from_utf8(&buf[..n]).unwrap(),
            "[ 3.0 MiB] 0x1a2b 0x0"
        );
        let mut tiny = [0u8; 3];
        let mut w = Writer::new(&mut tiny);
        w.raw(b"abcdef");
        w.hex(0xffff);
        assert_eq!(w.len, 3);
        assert_eq!(&tiny, b"abc");
    }
}
