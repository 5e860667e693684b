//! SACS, the Site-Aware Adaptive Cache System: a general-purpose memory allocator.
//!
//! Use it as `#[global_allocator] static GLOBAL: sacs::Sacs = sacs::Sacs;`, or through the C ABI
//! of the `preload` crate (`LD_PRELOAD=libsacs.so`). Every size is served by SACS itself:
//!
//! | tier | sizes | module |
//! | --- | --- | --- |
//! | TinySlab | 1 B – 1 KiB | [`tiny`]: 64 KiB thread-local pages, one size class each |
//! | MidPool | 1 KiB – 32 KiB | [`mid`]: 512 KiB thread-local pages |
//! | BigCache | 32 KiB – 2 MiB | [`big`]: spans of segment slices, Hot / Warm / Cold cache |
//! | Whale | >= 2 MiB | [`whale`]: dedicated 2 MiB-aligned mappings and a FIFO ring |
//!
//! How a request travels (see `docs/architecture.md` for the picture):
//!
//! ```text
//! alloc ─ fast_path::alloc ── HOT: heap.current[class].free pop ─────────────── return
//!            │ (miss)
//!            └ heap::refill ── WARM: remote frees, partial pages, warm pool, prefill
//!                 │ (nothing)
//!                 └ heap::cold ── COLD: abandoned segments, segment cache, mmap
//! ```
//!
//! Module map: [`os`] (every system call, counted) → [`segment_map`] and [`segment`] (4 MiB
//! aligned segments of 64 KiB slices) → [`page`] (free lists) → [`heap`] (per-thread heap, warm
//! pool, abandonment) → tiers → [`fast_path`]; beside them [`size_class`], [`options`],
//! [`stats`], [`purge`], [`lock`], [`error`].

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

#[cfg(any(test, feature = "std", feature = "tls-std"))]
extern crate std;

pub mod big;
pub mod c_api;
pub mod error;
pub mod fast_path;
pub mod fork;
pub mod global;
pub mod heap;
pub mod large_pages;
pub mod list;
pub mod lock;
pub mod mid;
pub mod options;
pub mod os;
pub mod page;
pub mod purge;
pub mod segment;
pub mod segment_map;
pub mod size_class;
pub mod stats;
pub mod tiny;
pub mod tls;
pub mod whale;

pub use fast_path::{alloc, alloc_zeroed, free, owns, realloc, usable_size};
pub use global::Sacs;
pub use purge::purge;
pub use stats::{stats, Stats};

/// Checks every invariant SACS can check of the calling thread's heap and the shared tiers;
/// panics with a description on the first violation. Only with the `validate` feature.
#[cfg(feature = "validate")]
pub fn validate() {
    heap::validate_current();
}
