//! SACS, the Site-Aware Adaptive Cache System: a general-purpose memory allocator.
//!
//! Use it as a Rust program's global allocator:
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: sacs::Sacs = sacs::Sacs;
//!
//! let v: Vec<u64> = (0..1000).collect();
//! assert_eq!(v.iter().sum::<u64>(), 499_500);
//! assert!(sacs::stats().allocs() > 0);
//! ```
//!
//! or under any program through the C ABI of the `preload` crate (`LD_PRELOAD=libsacs.so`),
//! which forwards to [`c_api`]. Every size is served by SACS itself:
//!
//! | tier | sizes | module |
//! | --- | --- | --- |
//! | TinySlab | 1 B – 1 KiB | `small`: 64 KiB thread-local pages, one size class each |
//! | MidPool | 1 KiB – 32 KiB | `small`: the same machinery, 512 KiB pages |
//! | BigCache | 32 KiB – 2 MiB | `big`: spans of segment slices, Hot / Warm / Cold cache |
//! | Whale | >= 2 MiB | `whale`: dedicated 2 MiB-aligned mappings and a ring of freed ones, reused by best fit ([`large_pages`]) |
//!
//! How a request travels (see `docs/architecture.md` for the picture):
//!
//! ```text
//! alloc ─ fast_path::alloc ── HOT: small::pop of the current page ──────────── return
//!            │ (miss)
//!            └ heap::refill ── WARM: remote frees, partial pages, warm pool, prefill
//!                 │ (nothing)
//!                 └ small::refill ── COLD: abandoned segments, segment cache, mmap
//! ```
//!
//! # Layers
//!
//! Modules are kept in this order, read row by row and left to right: a module may use only
//! modules before it (the test `tests/layering.rs` checks every `crate::` path), and only the
//! platform layer calls the C library.
//!
//! | layer | modules |
//! | --- | --- |
//! | platform | `platform` |
//! | support | `list`, `probe`, `lock`, `size_class`, `options`, `stats`, `pressure`, `learn`, `error`, `segment_map` |
//! | memory | `page`, `purge`, `segment_space`, `segment` |
//! | tiers | `big`, `small`, `whale`, `site` |
//! | heap | `heap` |
//! | process | `fork`, `process` |
//! | entry points | `fast_path`, `c_api`, `global`, `large_pages`, `c_ext` |
//!
//! - **platform**: every system and C-library call (memory, clocks, thread keys, `fork()`
//!   handlers, TLS, `environ`, `errno`), counted where it is a system call.
//! - **support**: intrusive lists, the spin lock, size classes, options, counters and the
//!   statistics snapshot, memory pressure, the learned thresholds, bad-pointer reports, the
//!   segment map.
//! - **memory**: 4 MiB segments of 64 KiB slices, pages and their free lists, purge policy,
//!   the reserved address space segments are mapped in and its slice-to-page table.
//! - **tiers**: BigCache, the small-object tier (TinySlab and MidPool, which may take an idle
//!   arena segment from BigCache), whales, Site Rules.
//! - **heap**: the per-thread heap: lifecycle, refill, slow frees, parking, purge looks.
//! - **process**: start-up and `fork()` safety.
//! - **entry points**: the Rust and C allocation APIs, the large-page API, and the C API beyond
//!   allocation (`include/sacs.h`, glibc's `mallinfo` and `mallopt`).

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

#[cfg(any(test, feature = "std", feature = "tls-std"))]
extern crate std;

// The code that most programs never run (statistics and profile output, the learner, Site
// Rules' sampling, whales, error reports and option warnings: functions marked
// `#[link_section = ".sacs_rare"]`) goes in a section of its own, after `.text`, starting on a
// 64 KiB boundary. The kernel maps a program's code 64 KiB around each page it runs
// (fault-around), so a section shared with running code would be resident in every process.
// The one-byte `.sacs_rare_end`, aligned the same way and kept from the linker's section
// garbage collection (`R`), starts a fresh window after it for what follows (the PLT)
// (docs/architecture.md, "The library's own footprint").
core::arch::global_asm!(
    ".pushsection .sacs_rare,\"ax\",%progbits",
    ".balign 65536",
    ".popsection",
    ".pushsection .sacs_rare_end,\"axR\",%progbits",
    ".balign 65536",
    ".byte 0",
    ".popsection"
);

pub(crate) mod platform;

pub(crate) mod error;
pub(crate) mod learn;
pub(crate) mod list;
pub(crate) mod lock;
pub mod options;
pub(crate) mod pressure;
pub(crate) mod probe;
pub(crate) mod segment_map;
pub(crate) mod size_class;
pub(crate) mod stats;

pub(crate) mod page;
pub(crate) mod purge;
pub(crate) mod segment;
pub(crate) mod segment_space;

pub(crate) mod big;
pub(crate) mod site;
pub(crate) mod small;
pub(crate) mod whale;

pub(crate) mod heap;

pub(crate) mod fork;
pub(crate) mod process;

pub mod c_api;
pub(crate) mod fast_path;
pub(crate) mod global;
pub mod large_pages;

pub mod c_ext;

pub use fast_path::{alloc, alloc_zeroed, free, owns, realloc, usable_size};
pub use global::Sacs;
pub use platform::{Syscall, SYSCALL_KINDS, SYSCALL_NAMES};
pub use stats::{
    KnobState, KnobStats, LearnStats, SyscallStats, Tier, TierStats, TIERS, TIER_NAMES,
};

/// Statistics: what SACS did, per tier and per system call, and how much memory it holds.
pub use stats::Stats;

/// A snapshot of every counter SACS keeps, with the process's resident size. Never allocates.
pub fn stats() -> Stats {
    process::init();
    stats::stats()
}

/// Writes the heap profile (`SACS_PROFILE`: the top call sites by live bytes, allocated bytes
/// and fragmentation cost, from sampled `malloc`s; see `docs/profile.md`) into `buf` and returns
/// the number of bytes written, cut short if `buf` is smaller than 16 KiB. Never allocates.
/// Only `malloc` through the C API's sampling entry (`c_api::malloc_at_sites`) is profiled.
pub fn write_profile(buf: &mut [u8]) -> usize {
    process::init();
    site::profile::write_report(buf)
}

/// Writes the heap profile ([`write_profile`]) to descriptor `fd` (2: standard error), when
/// `SACS_PROFILE` is on; does nothing otherwise.
pub fn print_profile(fd: i32) {
    process::init();
    if site::profile::enabled() {
        site::profile::print(fd);
    }
}

/// Gives back to the system, now, all the memory SACS holds free: the calling thread's empty
/// pages, pages of exited threads that were freed, the free slices of other threads' heap
/// segments, cached big blocks, empty segments, and the whale ring. Live blocks are untouched.
/// (The `malloc_trim` of SACS.)
#[cold]
#[link_section = ".sacs_rare"]
pub fn purge() {
    process::init();
    heap::tick::purge_now();
}

/// Checks every invariant SACS can check of the calling thread's heap; panics with a
/// description on the first violation. Only with the `validate` feature.
#[cfg(feature = "validate")]
pub fn validate() {
    heap::validate_current();
}

/// The README's examples, run as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

/// Internals that the crate's integration tests reach; not part of the API.
#[doc(hidden)]
pub mod internals {
    pub use crate::platform::tls::Reentry;
}
