//! Promotion from warm to hot (session 12): the threshold a warm block's access count must
//! reach, derived from the budget ([`promote_at`]), and the promotion itself, from the warm
//! copy with no read of the file.

use super::Field;
use crate::error::Result;

/// The promotion threshold of sessions 1 – 11, a constant: a warm block whose access count
/// reached 3 was promoted by the next query that touched it. Since session 12 the threshold
/// is derived from the budget ([`promote_at`]); this value can still be set with
/// [`Field::set_promote_at`] to compare.
pub const PROMOTE_AT_COUNT: u8 = 3;

/// The promotion threshold derived from a budget: the access count at which a query promotes
/// a warm block to hot, for a hot tier of `hot_slots`, a warm tier of `warm_slots` and
/// queries that touch at most `query_blocks` blocks (`levels × 2^dim`).
///
/// A block's count starts at 1 when a query's miss loads it into warm (0 when loaded ahead:
/// its first query is its first touch); each touch adds 1; the CLOCK halves it as its hand
/// passes. The threshold is `1 + ceil((warm_slots + query_blocks) / hot_slots)` (at least 2,
/// at most 255): that many touches since the block was loaded.
/// - **The rate term**, `warm_slots / hot_slots`: a promotion swaps the block with the hot
///   CLOCK's victim, which had no touch during the hot hand's last revolution; the warm hand
///   passes a block about once per `warm_slots` insertions, the hot hand once per
///   `hot_slots` evictions, and each promotion is one of each (a miss into warm only moves
///   the warm hand). So a block that earns as many touches in warm as the warm revolution is
///   longer than the hot one (`warm_slots / hot_slots` of them) is touched at least as often
///   as the block it displaces.
/// - **The working-set term**, `query_blocks / hot_slots`: one query promotes up to
///   `query_blocks` blocks; when that approaches the hot tier's size, the query's own
///   promotions evict each other (measured in `tests/promote.rs`'s setting, 32 blocks per
///   query, with the constant threshold: 9.4 evictions per query with 8 hot slots, 0.6 with
///   24). Each hot tier's worth of a query's blocks asks for one touch more.
///
/// With a large budget both terms are below one and the threshold is 2: the second touch
/// promotes (issue 13's two-touch promotion; the 4 GiB benchmark's 1 GiB budget: 46,545 hot
/// and 31,000 warm slots, 128 blocks per query). A budget whose hot tier is near one query's
/// blocks asks for more touches; a hot tier of one block, for up to 255.
pub fn promote_at(hot_slots: usize, warm_slots: usize, query_blocks: usize) -> u8 {
    let hot = hot_slots.max(1);
    let touches = (warm_slots.saturating_add(query_blocks))
        .div_ceil(hot)
        .max(1);
    touches.saturating_add(1).min(usize::from(u8::MAX)) as u8
}

impl Field {
    /// The access count at which a query promotes a warm block to hot: derived from the
    /// budget ([`promote_at`]) unless set with [`Field::set_promote_at`].
    pub fn promote_at(&self) -> u8 {
        self.promote_at
    }

    /// Sets the promotion threshold (at least 1), or with `None` derives it from the budget
    /// again ([`promote_at`]).
    pub fn set_promote_at(&mut self, count: Option<u8>) {
        self.promote_at_set = count.is_some();
        match count {
            Some(c) => self.promote_at = c.max(1),
            None => {
                let (hot, warm) = self.tiers.slots();
                self.promote_at = promote_at(hot, warm, self.grids.len() << self.layout.dim);
            }
        }
    }

    /// A query's promotion of `block`, in warm slot `slot`, to hot: from its f16 copy (no read
    /// of the file), into a free hot slot or the CLOCK's victim. Returns the hot slot.
    pub(super) fn promote_from_warm(&mut self, block: u64, slot: usize) -> Result<usize> {
        // Taken out first, so that the victim moving to warm cannot evict it.
        let (used, values) = self.tiers.take_warm(slot);
        let hot = if self.tiers.hot_has_room() {
            self.tiers.push_hot(block)?
        } else {
            self.evict_hot_for(block)?
        };
        self.tiers.fill_promoted(hot, &values, used);
        self.tail.promotions += 1;
        Ok(hot)
    }
}
