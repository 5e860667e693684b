//! Prefetch for the field's block stream (issue 13, point 3): recording which blocks a
//! workload's queries touch ([`Trace`]), predictors that propose blocks to fetch before they
//! are needed ([`Prefetcher`]: [`NextN`] readahead, Leap's majority trend [`Leap`], the online
//! [`Learned`] successor / delta tables over block ids, the online [`Trajectory`] model over
//! the query points, and the exact look-ahead [`LookAhead`] of a caller who knows its next
//! queries), and an offline evaluator ([`evaluate`]) that replays a trace
//! against a cache of the budget's size and counts what each prefetcher saves and wastes.
//!
//! The evaluator's model: every access of the trace is a demand access; a resident block is a
//! hit, any other a miss that loads it (one block of I/O). After each access the prefetcher
//! observes it and proposes blocks; those not resident are loaded at once (one block of I/O
//! each, *prefetched*) into the cache, where they may evict others. A prefetched block is
//! *used* if a demand access reaches it before it is evicted. Prefetches complete before the
//! next access (the model counts I/O, not time).
//!
//! - accuracy = used / prefetched;
//! - coverage = (misses without prefetch − misses with it) / misses without prefetch;
//! - extra I/O = (prefetched − used) / misses without prefetch.
//!
//! The field itself takes exact look-ahead through `Field::prefetch` and `Field::query_batch`
//! (see `field`); the predictors here are judged offline, see `docs/field-prefetch.md`.

mod eval;
mod exact;
mod leap;
mod learned;
mod nextn;
mod trajectory;

pub use eval::{demand_misses, evaluate, Metrics, Policy};
pub use exact::LookAhead;
pub use leap::Leap;
pub use learned::{Learned, LearnedConfig};
pub use nextn::NextN;
pub use trajectory::{Motion, Trajectory};

use crate::error::Result;
use crate::field::Field;

/// One demand access of a trace: the block a query touched, at which level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Index of the query (from 0) in the workload.
    pub query: u32,
    /// The level of the table the block belongs to.
    pub level: u8,
    /// The block id.
    pub block: u64,
}

/// The block-access stream of a workload: for each query in order, the distinct blocks it
/// touches, level by level (each level's corners in corner order, each block once per level).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The accesses, in order.
    pub accesses: Vec<Access>,
    /// Number of queries recorded.
    pub queries: usize,
    /// Block ids of the field run from 0 to this (exclusive).
    pub block_count: u64,
    /// The queries' points, `dim` coordinates each (empty for synthetic block streams).
    pub points: Vec<f32>,
    /// Coordinates per point.
    pub dim: usize,
}

impl Trace {
    /// Records the blocks that querying `field` at the points `xs` (`n × dim` coordinates)
    /// would touch, without loading any block.
    pub fn record(field: &Field, xs: &[f32]) -> Result<Trace> {
        let dim = field.layout().dim as usize;
        let mut trace = Trace {
            accesses: Vec::new(),
            queries: 0,
            block_count: field.blocking().block_count(field.layout()),
            points: xs[..xs.len() / dim * dim].to_vec(),
            dim,
        };
        let mut blocks = Vec::new();
        for (q, x) in xs.chunks_exact(dim).enumerate() {
            blocks.clear();
            field.blocks_of(x, &mut blocks)?;
            trace
                .accesses
                .extend(blocks.iter().map(|&(level, block)| Access {
                    query: q as u32,
                    level,
                    block,
                }));
            trace.queries += 1;
        }
        Ok(trace)
    }

    /// A trace from a plain sequence of block ids, one access per query, all at level 0 (for
    /// synthetic streams).
    pub fn from_blocks(blocks: &[u64], block_count: u64) -> Trace {
        Trace {
            accesses: blocks
                .iter()
                .enumerate()
                .map(|(q, &block)| Access {
                    query: q as u32,
                    level: 0,
                    block,
                })
                .collect(),
            queries: blocks.len(),
            block_count,
            points: Vec::new(),
            dim: 0,
        }
    }

    /// Distinct blocks the trace touches.
    pub fn distinct_blocks(&self) -> usize {
        let mut ids: Vec<u64> = self.accesses.iter().map(|a| a.block).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}

/// What the cache did with a demand access, as a prefetcher sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The block was not resident: a demand load.
    Miss,
    /// The block was resident because a prefetch brought it, and this is its first use.
    PrefetchHit,
    /// The block was resident (loaded on demand, or already used since its prefetch).
    Hit,
}

/// A predictor over the block-access stream.
pub trait Prefetcher {
    /// A short name with its parameters, for reports.
    fn name(&self) -> String;

    /// Observes the demand access `access` (the trace's access number `index`), which the
    /// cache served as `event`, and appends the blocks it proposes to fetch now to `out` (at
    /// most its own limit; resident or out-of-range ones are skipped by the caller).
    fn observe(&mut self, index: usize, access: &Access, event: Event, out: &mut Vec<u64>);

    /// Told that the proposed `block` was not resident and has been loaded (the feedback a
    /// predictor may use to judge its own accuracy, with [`Event::PrefetchHit`]).
    fn loaded(&mut self, block: u64) {
        let _ = block;
    }
}

/// No prefetch: the reference run.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPrefetch;

impl Prefetcher for NoPrefetch {
    fn name(&self) -> String {
        "none".to_string()
    }

    fn observe(&mut self, _: usize, _: &Access, _: Event, _: &mut Vec<u64>) {}
}
