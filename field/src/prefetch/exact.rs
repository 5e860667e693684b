//! Exact look-ahead: a caller who knows its next queries (a training loop's next batch, a
//! renderer's next rays) hands them over, and their blocks are fetched ahead. In the
//! evaluator this is [`LookAhead`], which reads the queries `distance` ahead from the trace
//! itself; in the field it is `Field::prefetch` and the gathering step of
//! `Field::query_batch`.

use super::{Access, Event, Prefetcher, Trace};

/// At the first access of query `q`, proposes every block of query `q + distance` (at the
/// trace's first query, of queries `1 ..= distance`).
#[derive(Clone, Debug)]
pub struct LookAhead {
    distance: usize,
    /// `starts[q]..starts[q + 1]` are query `q`'s blocks in `blocks`.
    starts: Vec<usize>,
    blocks: Vec<u64>,
    last_query: Option<u32>,
}

impl LookAhead {
    /// Look-ahead over `trace`'s own future, `distance` queries ahead (at least 1).
    pub fn new(trace: &Trace, distance: usize) -> LookAhead {
        let mut starts = vec![0usize; trace.queries + 1];
        for a in &trace.accesses {
            starts[a.query as usize + 1] += 1;
        }
        for q in 0..trace.queries {
            starts[q + 1] += starts[q];
        }
        LookAhead {
            distance: distance.max(1),
            starts,
            blocks: trace.accesses.iter().map(|a| a.block).collect(),
            last_query: None,
        }
    }
}

impl Prefetcher for LookAhead {
    fn name(&self) -> String {
        format!("lookahead-{}", self.distance)
    }

    fn observe(&mut self, _: usize, access: &Access, _: Event, out: &mut Vec<u64>) {
        if self.last_query == Some(access.query) {
            return;
        }
        let q = access.query as usize;
        // The first query fetches the whole window ahead; later ones its newest query.
        let from = if self.last_query.is_none() {
            q + 1
        } else {
            q + self.distance
        };
        self.last_query = Some(access.query);
        let to = (q + self.distance + 1).min(self.starts.len() - 1);
        if from < to {
            out.extend_from_slice(&self.blocks[self.starts[from]..self.starts[to]]);
        }
    }
}
