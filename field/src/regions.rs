//! The region maker (session 21): the hot tier's 2 MiB regions obtained from SACS
//! (`sacs::large_pages::obtain`) and their pages written once on a thread of the field's own,
//! a few regions ahead of the tier's growth, so that a region's first page fault does not fall
//! on a query.
//!
//! Why: the first write to a fresh region faults in its memory, and on the development VM
//! that costs far more than zeroing 2 MiB. After the page cache is dropped (the benchmark
//! does it before every run) the guest's freed memory has gone back to the host (free page
//! reporting, `virtio_balloon`), and each 2 MiB huge page written first costs the host's fault
//! too: 5.4 ms at the median, 10.6 – 20.7 ms at the 99th percentile, over 512 first writes
//! (`field/bench/first-touch.py`; docs/field.md, "Session 21"). The hot tier of the 4 GiB
//! benchmark fills 362 regions in its first seconds, each, before, in the query that first
//! used one of its frames: most of the single queries over 5 ms.
//!
//! - [`RegionMaker::keep_ready`] sets how many regions the thread keeps ready (obtained and
//!   written) or in the making; the pool (`hot::HotFrames`) asks for at most
//!   [`REGIONS_AHEAD`] and never more than the regions its budget may still hold, so the
//!   regions held stay within the hot tier's bound (`Tiers::hot_bytes_bound`).
//! - [`RegionMaker::take`] gives a ready region, waiting for the one being made if there is
//!   one (never more than one region's writes); `None` if there is none, and the pool obtains
//!   one itself, as before.
//! - The thread starts at the first `keep_ready` that asks for a region; on drop it stops
//!   after the region it is making, is joined, and the regions not taken go back to SACS.
//!   If `obtain` fails the thread stops making regions (the pool's own `obtain` then reports
//!   the error on the caller's thread).

use std::ptr::NonNull;
use std::sync::Arc;
use std::thread::JoinHandle;

use sacs::large_pages::{self, LARGE_PAGE};

use crate::worker::{DeathNotice, WorkerState};

/// The most regions kept ready ahead of the hot tier's growth (8 MiB): at 11,500 loads a
/// second into 16 KiB frames (the fastest run of single Zipf queries at 4 GiB in session 21)
/// the tier takes a region every 11 ms, and one takes about 5.4 ms to make there.
pub const REGIONS_AHEAD: usize = 4;

/// Bytes between the writes that fault a region in (the smallest page size).
const PAGE: usize = 4096;

/// A region obtained from SACS, owned by whoever holds this.
struct Region(NonNull<u8>);

// SAFETY: a region is plain memory owned by the one `Region` value (no other pointer to it is
// kept); SACS's large-page API may be called from any thread.
unsafe impl Send for Region {}

#[derive(Default)]
struct State {
    /// Regions obtained and written, not yet taken.
    ready: Vec<Region>,
    /// Regions to keep ready or in the making.
    target: usize,
    /// Whether the thread is making a region now.
    making: bool,
    /// The maker is being dropped.
    stop: bool,
    /// The thread failed (it unwound, or `obtain` returned null): no more regions.
    failed: bool,
}

impl WorkerState for State {
    fn stop(&mut self) {
        self.stop = true;
    }

    fn fail(&mut self, _why: &str) {
        self.failed = true;
    }
}

type Shared = crate::worker::Shared<State>;

/// A thread that makes the hot tier's regions ahead (see the module documentation).
#[derive(Default)]
pub struct RegionMaker {
    shared: Option<Arc<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl RegionMaker {
    /// Keeps `count` regions ready or in the making (fewer are asked for by a lower count:
    /// regions already made stay until taken). Starts the thread at the first request; if it
    /// cannot start, no region is made ahead.
    pub fn keep_ready(&mut self, count: usize) {
        if self.shared.is_none() {
            if count == 0 {
                return;
            }
            let shared = Arc::new(Shared::new(State::default()));
            let theirs = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name("field-regions".into())
                .spawn(move || run(&theirs));
            match spawned {
                Ok(thread) => self.thread = Some(thread),
                Err(_) => shared.lock().failed = true,
            }
            self.shared = Some(shared);
        }
        let Some(shared) = &self.shared else {
            return;
        };
        shared.lock().target = count;
        shared.work.notify_one();
    }

    /// A ready region (its pages written, contents unspecified), waiting for the one in the
    /// making if none is ready; `None` if none is ready or asked for.
    pub fn take(&mut self) -> Option<NonNull<u8>> {
        let shared = self.shared.as_ref()?;
        let mut state = shared.lock();
        // A region is in the making, or about to be: wait for it (taking none and obtaining
        // one here would let the regions held pass the target).
        while state.ready.is_empty() && (state.making || state.target > 0) && !state.failed {
            state = shared
                .progress
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.ready.pop().map(|r| r.0)
    }

    /// Regions obtained and not taken: ready, or in the making.
    pub fn held(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| {
            let state = s.lock();
            state.ready.len() + usize::from(state.making)
        })
    }
}

impl Drop for RegionMaker {
    /// Stops the thread (after the region it is making), joins it, and gives the regions not
    /// taken back to SACS.
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.stop_and_join(self.thread.take());
        for region in shared.lock().ready.drain(..) {
            // SAFETY: the region came from `obtain(LARGE_PAGE)` on the thread, was never
            // taken, and nothing else points to it.
            unsafe { large_pages::release(region.0.as_ptr(), LARGE_PAGE) };
        }
    }
}

/// The thread: while fewer than `target` regions are ready or in the making, obtains one,
/// writes one byte of each page, and posts it; until stopped.
fn run(shared: &Arc<Shared>) {
    let _notice = DeathNotice(Arc::clone(shared), "the region maker panicked");
    loop {
        {
            let mut state = shared.lock();
            while !state.stop && !state.failed && state.ready.len() >= state.target {
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if state.stop || state.failed {
                return;
            }
            state.making = true;
        }
        let region = NonNull::new(large_pages::obtain(LARGE_PAGE));
        if let Some(region) = region {
            for offset in (0..LARGE_PAGE).step_by(PAGE) {
                // SAFETY: `offset < LARGE_PAGE`, the region's length, and the region is this
                // thread's alone until it is posted below. A volatile write, so that the
                // compiler keeps every page's fault here.
                unsafe { region.as_ptr().add(offset).write_volatile(0) };
            }
        }
        let mut state = shared.lock();
        state.making = false;
        match region {
            Some(region) => state.ready.push(Region(region)),
            None => state.failed = true,
        }
        drop(state);
        shared.progress.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_made_ahead_taken_and_returned() {
        let mut maker = RegionMaker::default();
        assert!(maker.take().is_none(), "nothing asked for");
        maker.keep_ready(2);
        let a = maker.take().expect("a region in the making is waited for");
        assert_eq!(a.as_ptr() as usize % LARGE_PAGE, 0);
        // SAFETY: a region of LARGE_PAGE bytes, ours.
        unsafe {
            *a.as_ptr().add(LARGE_PAGE - 1) = 7;
            large_pages::release(a.as_ptr(), LARGE_PAGE);
        }
        maker.keep_ready(0);
        // At most two are kept ready or in the making.
        assert!(maker.held() <= 2);
        // Dropping the maker returns the regions not taken.
    }
}
