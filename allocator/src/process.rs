//! Process-wide start-up, once: the options, the `fork()` handlers, the heap layer's thread-exit
//! key. The entry points call [`init`] on every path that can take a shared lock (a thread's
//! first heap, big blocks, whales, regions, statistics, purging) before taking one, so the fork
//! handlers are registered before any lock can be held across a `fork()`. After the first call
//! it costs one load.

use crate::{fork, heap, options, stats};

static INIT: crate::lock::Once<()> = crate::lock::Once::new();

/// Sets SACS up for the process (idempotent, thread-safe).
#[inline]
pub fn init() {
    INIT.call_once(|| {
        stats::mark_start();
        options::load();
        fork::register();
        heap::lifecycle::init();
    });
}
