//! Block utilisation: which entries of a block were read or updated while it was resident.
//!
//! Instant-NGP's spatial hash scatters a point's fine-level vertices over the whole table, so
//! a block loaded for one vertex may serve nothing else. A block's *residency* runs from its
//! load until it leaves memory (moving between hot and warm does not end it); utilisation is
//! the entries used per residency over the entries per block.

/// One bit per entry of a block: set once the entry is read or updated.
pub struct UsedEntries(Box<[u64]>);

impl UsedEntries {
    /// No entry used yet, for a block of `entries` entries.
    pub fn new(entries: usize) -> UsedEntries {
        UsedEntries(vec![0; entries.div_ceil(64)].into_boxed_slice())
    }

    /// Notes that `entry` was used.
    #[inline]
    pub fn mark(&mut self, entry: usize) {
        self.0[entry / 64] |= 1 << (entry % 64);
    }

    /// Forgets every mark (for a slot that takes another block).
    pub fn clear(&mut self) {
        self.0.fill(0);
    }

    /// Number of entries used.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|w| w.count_ones() as u64).sum()
    }
}

/// Entries used over block residencies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utilisation {
    /// Residencies counted (ended ones, and the blocks resident now).
    pub residencies: u64,
    /// Distinct entries used, summed over those residencies.
    pub entries_used: u64,
}

impl Utilisation {
    /// Adds one residency that used `used`'s entries.
    pub fn add(&mut self, used: &UsedEntries) {
        self.residencies += 1;
        self.entries_used += used.count();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_entries_are_counted_once() {
        let mut used = UsedEntries::new(100);
        for e in [0, 63, 64, 99, 63] {
            used.mark(e);
        }
        assert_eq!(used.count(), 4);
        let mut u = Utilisation::default();
        u.add(&used);
        u.add(&UsedEntries::new(100));
        assert_eq!(
            u,
            Utilisation {
                residencies: 2,
                entries_used: 4
            }
        );
    }
}
