//! `field`: a paged neural field. A multiresolution hash-grid feature field (the encoding of
//! Instant-NGP, Müller et al. 2022) stored in a file whose logical size may be far beyond the
//! machine's memory and disk: blocks exist only once written, every block survives a crash
//! either at its old or its new version, and the blocks in use sit in 2 MiB pages from SACS's
//! large-page tier.
//!
//! ```no_run
//! use field::{Field, Layout};
//! # fn main() -> field::Result<()> {
//! let mut f = Field::create("scene.field", Layout::default())?;
//! let mut features = vec![0.0; f.output_len()];
//! f.query(&[0.2, 0.5, 0.7], &mut features)?;
//! let grad = vec![0.01; f.output_len()];
//! f.update(&[0.2, 0.5, 0.7], &grad, 0.1)?;
//! f.flush()?;
//! # Ok(()) }
//! ```
//!
//! Modules, bottom up: [`layout`] (parameters and block geometry), `format` (the bytes of the
//! file), `hash` (vertex indexing, the scalar reference), `kernel` (scalar and AVX2 + FMA
//! arithmetic), `init` (initial values), `store` (the crash-safe sparse block file), `hot`
//! (frames in SACS's large pages), `regions` (those pages made ahead on a thread of their own),
//! `tiers` (hot / warm slots under a budget), `usage` (block
//! utilisation), `worker` (the state, wake-ups, stop and death notice the background threads
//! share), `writer` (write-back on a thread of the field's own), `reader` (block reads ahead on
//! another), `memory` (a budget cut
//! to bound resident memory), `field` (the API), [`prefetch`] (block-access traces, predictors and their
//! offline evaluator), [`bench`](mod@bench) (the workloads and measuring loop of the
//! `field-bench` binary), [`quality`] (locality, fit and quantisation measurements, the
//! `field-quality` binary). `docs/field.md` describes the file format and the crash-safety
//! design, the benchmark's figures, and what is not built yet.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

pub mod bench;
mod error;
mod field;
mod format;
mod hash;
mod hot;
mod init;
mod kernel;
pub mod layout;
mod memory;
pub mod prefetch;
pub mod quality;
mod reader;
mod regions;
mod store;
mod tiers;
mod usage;
mod worker;
mod writer;

pub use error::{Error, Result};
pub use field::{
    promote_at, Field, Predictor, Stats, TailCounters, DEFAULT_READ_AHEAD_BLOCKS,
    DEFAULT_WRITE_BACK_THRESHOLD, DEFAULT_WRITE_BEHIND_BYTES, GATHER_CHUNK, HAND_OVER_STEP,
    MAP_SHARE, PROMOTE_AT_COUNT,
};
pub use kernel::{Grids, Kernel};
pub use layout::{Encoding, Hashing, Layout};
pub use memory::BudgetPlan;
pub use store::{
    BlockStore, CheckReport, OpenedBy, ReadEngine, RingReader, StoreStats, READ_MANY_IN_FLIGHT,
    SCAN_WINDOW,
};
pub use tiers::Budget;
