//! The rule table of Site Rules: site → lifetime class for the busiest sites, learned from the
//! classified samples ([`Rules::learn_with`]), with the adoption gate (16 recent samples, 95 %
//! agreeing), the drop (below 85 %, or a streak of young frees against a long-lived rule) and
//! eviction of the least-sampled entry of a full bucket.

use super::Lifetime;
use crate::stats::GLOBAL;

/// Rule-table geometry: 512 buckets of 4 entries.
const BUCKETS: usize = 512;
const WAYS: usize = 4;
/// A rule is adopted after this many recent samples ...
pub(super) const ADOPT_SAMPLES: u32 = 16;
/// ... of which at least this share (in percent) agree; it is dropped below `DROP_PERCENT`.
const ADOPT_PERCENT: u32 = 95;
const DROP_PERCENT: u32 = 85;
/// Recent samples are halved once an entry has this many: the rule follows the site's present.
const DECAY_AT: u32 = 64;
/// Samples freed young in a row that make a site drop its long-lived rule at once (see
/// [`Rules::freed_young`]).
const DROP_STREAK: u8 = 3;

/// One entry of the rule table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    /// The call site; 0: an empty entry.
    site: usize,
    /// Recent samples of each class (halved now and then).
    short: u32,
    long: u32,
    rule: Option<Lifetime>,
    /// Samples freed young since the last verdict that agreed with a long-lived rule.
    against: u8,
}

/// The rule table: site → lifetime class, for the busiest sites. Keyed by the site alone: a
/// site that allocates many sizes (a cache's entries, a string builder's buffers) would give
/// each of its size classes too few samples to agree on, and its blocks' lifetimes seldom
/// depend on their size.
pub struct Rules {
    entries: [[Entry; WAYS]; BUCKETS],
}

const EMPTY_ENTRY: Entry = Entry {
    site: 0,
    short: 0,
    long: 0,
    rule: None,
    against: 0,
};

impl Rules {
    pub(super) const fn new() -> Self {
        Self {
            entries: [[EMPTY_ENTRY; WAYS]; BUCKETS],
        }
    }

    fn bucket(site: usize) -> usize {
        ((site as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 9)) as usize
    }

    /// The rule of `site`, if one is adopted.
    pub fn predict(&self, site: usize) -> Option<Lifetime> {
        self.entries[Self::bucket(site)]
            .iter()
            .find(|e| e.site == site)
            .and_then(|e| e.rule)
    }

    /// A sample of `site` was freed young; its short-lived verdict is counted only later
    /// (`State::pending`), but it is evidence against a long-lived rule now: [`DROP_STREAK`] of
    /// them with no agreeing verdict between make the site drop the rule at once (a site whose
    /// blocks stopped living long, e.g. a program that finished building a structure and now
    /// makes temporaries at the same place). Dropping a rule is the cautious side: it only stops
    /// predictions until the verdicts agree again.
    pub fn freed_young(
        &mut self,
        site: usize,
        mut changed: impl FnMut(usize, Option<Lifetime>, Option<Lifetime>),
    ) {
        let bucket = &mut self.entries[Self::bucket(site)];
        let Some(e) = bucket.iter_mut().find(|e| e.site == site) else {
            return;
        };
        if e.rule != Some(Lifetime::Long) {
            return;
        }
        e.against += 1;
        if e.against >= DROP_STREAK {
            // Forget the old verdicts too, or the next long-lived one re-adopts the rule.
            e.rule = None;
            e.against = 0;
            (e.short, e.long) = (0, 0);
            GLOBAL.site_rules_dropped.add(1);
            changed(site, Some(Lifetime::Long), None);
        }
    }

    /// [`Rules::learn_with`], ignoring the changes (tests).
    #[cfg(test)]
    pub fn learn(&mut self, site: usize, lifetime: Lifetime) {
        self.learn_with(site, lifetime, |_, _, _| {});
    }

    /// Folds one classified sample of `site` into its entry, adopting, keeping or
    /// dropping the rule; makes room by evicting the entry with the fewest recent samples.
    /// Every change of a site's rule is told to `changed(site, before, after)`.
    pub fn learn_with(
        &mut self,
        site: usize,
        lifetime: Lifetime,
        mut changed: impl FnMut(usize, Option<Lifetime>, Option<Lifetime>),
    ) {
        let bucket = &mut self.entries[Self::bucket(site)];
        let i = match bucket.iter().position(|e| e.site == site) {
            Some(i) => i,
            None => {
                let (i, victim) = bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| if e.site == 0 { 0 } else { 1 + e.short + e.long })
                    .expect("a bucket has entries");
                if victim.site != 0 {
                    GLOBAL.site_rules_evicted.add(1);
                    if victim.rule.is_some() {
                        GLOBAL.site_rules_dropped.add(1);
                        changed(victim.site, victim.rule, None);
                    }
                }
                bucket[i] = Entry {
                    site,
                    ..EMPTY_ENTRY
                };
                i
            }
        };
        let e = &mut bucket[i];
        if e.rule == Some(lifetime) {
            e.against = 0;
        }
        match lifetime {
            Lifetime::Short => e.short += 1,
            Lifetime::Long => e.long += 1,
        }
        if e.short + e.long >= DECAY_AT {
            e.short /= 2;
            e.long /= 2;
        }
        let total = e.short + e.long;
        let (major, count) = if e.long > e.short {
            (Lifetime::Long, e.long)
        } else {
            (Lifetime::Short, e.short)
        };
        match e.rule {
            None if total >= ADOPT_SAMPLES && count * 100 >= total * ADOPT_PERCENT => {
                e.rule = Some(major);
                e.against = 0;
                GLOBAL.site_rules_adopted.add(1);
                changed(site, None, e.rule);
            }
            Some(rule) => {
                let agree = if rule == Lifetime::Long {
                    e.long
                } else {
                    e.short
                };
                if agree * 100 < total * DROP_PERCENT {
                    e.rule = None;
                    GLOBAL.site_rules_dropped.add(1);
                    changed(site, Some(rule), None);
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn_n(r: &mut Rules, site: usize, l: Lifetime, n: usize) {
        for _ in 0..n {
            r.learn(site, l);
        }
    }

    #[test]
    fn a_rule_is_adopted_when_samples_agree_and_dropped_when_they_stop() {
        let mut r = std::boxed::Box::new(Rules::new());
        learn_n(&mut r, 0x1000, Lifetime::Long, ADOPT_SAMPLES as usize - 1);
        assert_eq!(r.predict(0x1000), None, "not enough samples yet");
        learn_n(&mut r, 0x1000, Lifetime::Long, 1);
        assert_eq!(r.predict(0x1000), Some(Lifetime::Long));
        assert_eq!(r.predict(0x1008), None, "another site is another key");
        // The site turns short-lived: the rule goes, then the opposite one comes.
        learn_n(&mut r, 0x1000, Lifetime::Short, 3);
        assert_eq!(r.predict(0x1000), None);
        learn_n(&mut r, 0x1000, Lifetime::Short, 300);
        assert_eq!(r.predict(0x1000), Some(Lifetime::Short));
    }

    #[test]
    fn a_mixed_site_gets_no_rule() {
        let mut r = std::boxed::Box::new(Rules::new());
        for _ in 0..50 {
            r.learn(0x2000, Lifetime::Short);
            r.learn(0x2000, Lifetime::Long);
        }
        assert_eq!(r.predict(0x2000), None);
    }

    #[test]
    fn a_new_site_in_a_full_bucket_evicts_the_least_sampled_entry() {
        let mut r = std::boxed::Box::new(Rules::new());
        // Sites that land in one bucket.
        let bucket = Rules::bucket(0x10);
        let same: std::vec::Vec<usize> = (1..1_000_000usize)
            .map(|i| i * 16)
            .filter(|&s| Rules::bucket(s) == bucket)
            .take(WAYS + 1)
            .collect();
        for &s in &same[..WAYS] {
            learn_n(&mut r, s, Lifetime::Long, 20);
        }
        learn_n(&mut r, same[WAYS], Lifetime::Short, 1);
        let kept = same[..WAYS]
            .iter()
            .filter(|&&s| r.predict(s).is_some())
            .count();
        assert_eq!(kept, WAYS - 1, "one busy site made room for the newcomer");
        learn_n(&mut r, same[WAYS], Lifetime::Short, 20);
        assert_eq!(r.predict(same[WAYS]), Some(Lifetime::Short));
    }

    #[test]
    fn young_frees_drop_a_long_lived_rule_unless_a_verdict_agrees_between() {
        let mut r = std::boxed::Box::new(Rules::new());
        let site = 0x3000;
        learn_n(&mut r, site, Lifetime::Long, ADOPT_SAMPLES as usize);
        assert_eq!(r.predict(site), Some(Lifetime::Long));
        let mut drops = 0;
        for _ in 0..DROP_STREAK - 1 {
            r.freed_young(site, |_, _, _| drops += 1);
        }
        // An agreeing verdict between resets the streak.
        r.learn(site, Lifetime::Long);
        for _ in 0..DROP_STREAK - 1 {
            r.freed_young(site, |_, _, _| drops += 1);
        }
        assert_eq!(r.predict(site), Some(Lifetime::Long));
        assert_eq!(drops, 0);
        r.freed_young(site, |s, before, after| {
            assert_eq!((s, before, after), (site, Some(Lifetime::Long), None));
            drops += 1;
        });
        assert_eq!(
            r.predict(site),
            None,
            "a streak of young frees drops the rule"
        );
        assert_eq!(drops, 1);
        // A short-lived rule is not touched by young frees.
        learn_n(&mut r, 0x4000, Lifetime::Short, ADOPT_SAMPLES as usize);
        for _ in 0..2 * DROP_STREAK {
            r.freed_young(0x4000, |_, _, _| panic!("no change"));
        }
        assert_eq!(r.predict(0x4000), Some(Lifetime::Short));
    }
}
