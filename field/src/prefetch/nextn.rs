//! Next-N readahead, the baseline the kernel's page cache resembles: after a demand miss on
//! block `b`, fetch `b + 1 ..= b + N`.

use super::{Access, Event, Prefetcher};

/// Next-N readahead.
#[derive(Clone, Copy, Debug)]
pub struct NextN {
    n: u64,
}

impl NextN {
    /// Readahead of `n` blocks after each miss.
    pub fn new(n: u64) -> NextN {
        NextN { n }
    }
}

impl Prefetcher for NextN {
    fn name(&self) -> String {
        format!("next-{}", self.n)
    }

    fn observe(&mut self, _: usize, access: &Access, event: Event, out: &mut Vec<u64>) {
        if event == Event::Miss {
            out.extend((1..=self.n).map(|k| access.block + k));
        }
    }
}
