//! The statistics as one JSON object on one line ([`Stats::write_json`]): `SACS_STATS=json` at
//! exit, `sacs_stats_json()` and `sacs_stats_print(fd, 1)` of the C API. Written into a
//! caller's fixed buffer without allocating; the schema is documented in `docs/statistics.md`
//! and its version is the value of the `"sacs"` key, raised whenever a key changes meaning or
//! goes away (keys may be added without raising it).

use super::{Stats, KNOB_STATE_NAMES, TIER_NAMES};
use crate::options::{LADDERS, OPTIONS};
use crate::platform::SYSCALL_KINDS;

/// The schema's version: the value of the object's first key, `"sacs"`.
pub const JSON_SCHEMA: u64 = 1;

/// System call kinds as JSON keys, in `platform::Syscall` order.
const SYSCALL_KEYS: [&str; SYSCALL_KINDS] = [
    "mmap",
    "munmap",
    "madvise_free",
    "madvise_dontneed",
    "madvise_hugepage",
    "mremap",
    "futex",
    "sched_yield",
    "getrusage",
    "membarrier",
    "file_read",
];

/// The longest object [`Stats::write_json`] writes is well below this (a test checks it).
pub const JSON_MAX: usize = 8192;

/// Writes `"key":value` pairs and nested objects, with the commas between them.
struct Json<'a, 'b> {
    w: &'a mut super::Writer<'b>,
    first: bool,
}

impl Json<'_, '_> {
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn key(&mut self, key: &str) {
        if !self.first {
            self.w.s(",");
        }
        self.first = false;
        self.w.s("\"");
        self.w.s(key);
        self.w.s("\":");
    }

    #[inline(never)]
    fn num(&mut self, key: &str, v: u64) {
        self.key(key);
        self.w.num(v);
    }

    /// A string value, escaped (the program's name comes from outside).
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn text(&mut self, key: &str, bytes: &[u8]) {
        self.key(key);
        self.w.s("\"");
        for &b in bytes {
            match b {
                b'"' => self.w.s("\\\""),
                b'\\' => self.w.s("\\\\"),
                0..0x20 | 0x7f.. => {
                    self.w.s("\\u00");
                    self.w
                        .raw(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
                }
                _ => self.w.raw(&[b]),
            }
        }
        self.w.s("\"");
    }

    /// An object value whose pairs `f` writes.
    fn object(&mut self, key: &str, f: impl FnOnce(&mut Json)) {
        self.key(key);
        self.w.s("{");
        let mut inner = Json {
            w: &mut *self.w,
            first: true,
        };
        f(&mut inner);
        self.w.s("}");
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Stats {
    /// Writes the statistics as one JSON object followed by a newline into `buf` and returns
    /// the number of bytes written (cut short if `buf` is too small; `JSON_MAX`, 8 KiB, is
    /// always enough). Byte counts are bytes; times are milliseconds or, for system calls, cycles.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    pub fn write_json(&self, buf: &mut [u8]) -> usize {
        let mut w = super::Writer::new(buf);
        w.s("{");
        let mut j = Json {
            w: &mut w,
            first: true,
        };
        j.num("sacs", JSON_SCHEMA);
        j.key("version");
        j.w.s("\"");
        j.w.s(env!("CARGO_PKG_VERSION"));
        j.w.s("\"");
        j.num("pid", self.pid as u64);
        j.text("program", self.program());
        j.num("elapsed_ms", self.elapsed_ms);
        j.object("in_use", |j| {
            j.num("total", self.in_use_bytes());
            for (i, t) in self.tiers.iter().enumerate() {
                j.num(TIER_NAMES[i], t.in_use_bytes);
            }
        });
        j.object("tiers", |j| {
            for (i, t) in self.tiers.iter().enumerate() {
                j.object(TIER_NAMES[i], |j| {
                    j.num("allocs", t.allocs);
                    j.num("frees", t.frees);
                });
            }
        });
        j.object("warm_pool", |j| {
            j.num("hits", self.warm_pool_hits);
            j.num("prefills", self.warm_pool_prefills);
            j.num("remote_collects", self.remote_collects);
            j.num("larger_class_blocks", self.larger_class_blocks);
        });
        j.object("big_cache", |j| {
            j.num("hits", self.big_cache_hits);
            j.num("misses", self.big_cache_misses);
            j.num("warmed", self.big_cache_warmed);
            j.num("cooled", self.big_cache_cooled);
            j.num("arena_passes", self.big_arena_passes);
            j.num("uncached", self.big_cache_uncached);
            j.num("taken_idle", self.big_cache_taken_idle);
            j.num("from_other_arena", self.big_cache_from_other_arena);
            j.num("bytes", self.big_cache_bytes as u64);
            j.num("cold_delay_raised", self.cold_delay_raised);
            j.num("cold_delay_lowered", self.cold_delay_lowered);
            j.num("hot_delay_raised", self.hot_delay_raised);
            j.num("hot_delay_lowered", self.hot_delay_lowered);
        });
        j.object("whale_ring", |j| {
            j.num("hits", self.whale_ring_hits);
            j.num("misses", self.whale_ring_misses);
            j.num("evictions", self.whale_ring_evictions);
            j.num("expired", self.whale_ring_expired);
            j.num("grown", self.whale_ring_grown);
            j.num("splits", self.whale_ring_splits);
            j.num("trims", self.whale_ring_trims);
            j.num("merges", self.whale_ring_merges);
            j.num("bytes", self.whale_ring_bytes as u64);
            j.num("budget", self.whale_ring_budget as u64);
            j.num("budget_raised", self.whale_budget_raised);
            j.num("budget_lowered", self.whale_budget_lowered);
        });
        j.object("segments", |j| {
            j.num("mapped", self.segments_mapped);
            j.num("unmapped", self.segments_unmapped);
            j.num("reused", self.segments_reused);
            j.num("lent", self.segments_lent);
            j.num("unpinned", self.segments_unpinned);
            j.num("abandoned", self.segments_abandoned);
            j.num("adopted", self.segments_adopted);
            j.num("in_space", self.segments_in_space);
            j.num("space_slots", self.segment_space_slots);
        });
        j.object("purge", |j| {
            j.num("runs", self.purged_runs);
            j.num("bytes", self.purged_bytes);
            j.num("holes_punched", self.holes_punched);
            j.num("holes_filled", self.holes_filled);
            j.num("idle_heap_slices", self.idle_heap_slices);
            j.num("delay_raised", self.purge_delay_raised);
            j.num("delay_lowered", self.purge_delay_lowered);
        });
        j.object("threads", |j| {
            j.num("heaps_created", self.heaps_created);
            j.num("heaps_retired", self.heaps_retired);
            j.num("heaps_taken_over", self.heaps_taken_over);
        });
        j.num("invalid_frees", self.invalid_frees);
        j.object("pressure", |j| {
            j.num("checks", self.pressure_checks);
            j.num("found", self.pressure_found);
            j.num("limit", self.pressure_limit);
            j.num("working_set", self.pressure_working);
            j.num("stall", self.pressure_stall);
        });
        j.object("learn", |j| {
            let l = &self.learn;
            j.num("enabled", l.enabled as u64);
            j.num("windows", l.windows);
            j.num("frozen_windows", l.frozen_windows);
            j.num("reopened", l.reopened);
            j.num("recalled", l.recalled);
            j.num("restored", l.restored);
            j.num("pressure_lean", l.pressure_lean);
            j.object("knobs", |j| {
                for (k, ladder) in l.knobs.iter().zip(LADDERS.iter()) {
                    j.object(OPTIONS[ladder.opt as usize].name, |j| {
                        j.key("state");
                        j.w.s("\"");
                        j.w.s(KNOB_STATE_NAMES[k.state as usize]);
                        j.w.s("\"");
                        j.num("value", k.value as u64);
                        j.num("games", k.games);
                        j.object("ratings", |j| {
                            for (i, &c) in ladder.candidates.iter().enumerate() {
                                let mut digits = [0u8; 20];
                                j.key(super::format_decimal(c as u64, &mut digits));
                                j.w.num(k.ratings[i].max(0) as u64);
                            }
                        });
                    });
                }
            });
        });
        j.object("sites", |j| {
            j.num("samples", self.site_samples);
            j.num("sampled_frees", self.site_sampled_frees);
            j.num("records_dropped", self.site_records_dropped);
            j.num("sample_pages_released", self.site_sample_pages_released);
            j.num("short", self.site_short);
            j.num("long", self.site_long);
            j.num("rules_adopted", self.site_rules_adopted);
            j.num("rules_dropped", self.site_rules_dropped);
            j.num("rules_evicted", self.site_rules_evicted);
            j.num("predicted_right", self.site_predicted_right);
            j.num("predicted_wrong", self.site_predicted_wrong);
            j.num("unpredicted", self.site_unpredicted);
            j.num("long_allocs", self.site_long_allocs);
            j.num("pages_relabelled", self.site_pages_relabelled);
            j.num("long_pages", self.site_long_pages);
            j.num("long_page_bytes", self.site_long_page_bytes);
            j.num("big_allocs", self.site_big_allocs);
            j.num("big_kept", self.site_big_kept);
            j.num("big_released", self.site_big_released);
            j.num("big_right", self.site_big_right);
            j.num("big_wrong", self.site_big_wrong);
        });
        j.object("syscalls", |j| {
            for (i, s) in self.syscalls.iter().enumerate() {
                j.object(SYSCALL_KEYS[i], |j| {
                    j.num("calls", s.calls);
                    j.num("cycles", s.cycles);
                    j.num("failures", s.failures);
                });
            }
        });
        j.object("memory", |j| {
            j.num("committed", self.committed_bytes as u64);
            j.num("peak_committed", self.peak_committed_bytes as u64);
            j.num("mapped", self.mapped_bytes as u64);
            j.num("resident", self.resident_bytes as u64);
        });
        w.s("}\n");
        w.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Tier, TIERS};

    fn sample() -> Stats {
        let mut s = Stats {
            pid: 4242,
            elapsed_ms: 1500,
            ..Stats::default()
        };
        let name = b"a\"b\\c\x01";
        s.program[..name.len()].copy_from_slice(name);
        s.program_len = name.len();
        s.tiers[Tier::Tiny as usize].allocs = 10;
        s.tiers[Tier::Tiny as usize].in_use_bytes = 160;
        s.tiers[Tier::Whale as usize].in_use_bytes = 4 << 20;
        s.syscalls[0].calls = 7;
        s.site_big_wrong = u64::MAX;
        s.committed_bytes = 1 << 22;
        s
    }

    fn text(s: &Stats) -> std::string::String {
        let mut buf = [0u8; JSON_MAX];
        let n = s.write_json(&mut buf);
        assert!(n < JSON_MAX, "the object must fit JSON_MAX");
        std::string::String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn one_line_with_the_documented_keys() {
        let t = text(&sample());
        assert!(t.starts_with("{\"sacs\":1,\"version\":\""), "{t}");
        assert!(t.ends_with("}\n"));
        assert_eq!(t.matches('\n').count(), 1);
        for key in [
            "\"pid\":4242",
            "\"program\":\"a\\\"b\\\\c\\u0001\"",
            "\"elapsed_ms\":1500",
            "\"in_use\":{\"total\":4194464,\"tiny\":160,\"mid\":0,\"big\":0,\"whale\":4194304}",
            "\"tiny\":{\"allocs\":10,\"frees\":0}",
            "\"mmap\":{\"calls\":7,",
            "\"big_wrong\":18446744073709551615",
            "\"committed\":4194304",
        ] {
            assert!(t.contains(key), "{key} missing from {t}");
        }
        assert_eq!(TIERS, 4);
    }

    #[test]
    fn braces_and_quotes_balance() {
        let t = text(&sample());
        // Outside strings, every brace opened is closed and never goes below zero.
        let (mut depth, mut in_str, mut esc) = (0i32, false, false);
        for c in t.chars() {
            match (in_str, esc, c) {
                (true, true, _) => esc = false,
                (true, false, '\\') => esc = true,
                (true, false, '"') => in_str = false,
                (false, _, '"') => in_str = true,
                (false, _, '{') => depth += 1,
                (false, _, '}') => {
                    depth -= 1;
                    assert!(depth >= 0);
                }
                _ => {}
            }
        }
        assert_eq!(depth, 0);
        assert!(!in_str);
        // No two pairs run together without their comma.
        assert!(!t.contains("}\"") && !t.contains("\"\""));
    }

    #[test]
    fn a_short_buffer_is_cut_never_overrun() {
        let mut small = [0u8; 20];
        assert_eq!(sample().write_json(&mut small), 20);
    }
}
