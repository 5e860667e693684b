//! `fork()` safety: every lock SACS has is taken before the fork and released after it, in the
//! parent and in the child, so the child never inherits a lock held by a thread that does not
//! exist in it. Registered with `pthread_atfork` at start-up ([`crate::process`]).
//!
//! [`locks`] is the one list of SACS's locks, in the order `prepare` takes them, which is the
//! only nesting order in SACS: a lock is only ever taken while holding locks listed before it.
//! A module that adds a lock adds one line there.
//!
//! In the child, heaps of the parent's other threads stay as they were: their blocks remain
//! valid (the child may free them; those frees go through the remote lists) and their pages are
//! simply never refilled: the same as a thread that never runs again.

use crate::lock::{Locked, RawLock};
use crate::platform::thread;
use crate::small::abandon;
use crate::{big, heap, segment, segment_space, site, stats, whale};

/// Every lock of SACS, in lock order.
fn locks() -> [&'static dyn LockOps; 12] {
    let (backstop, pool) = heap::lifecycle::locks_for_fork();
    [
        backstop,                               // held across a backstop heap's whole refill
        segment_space::reserve_lock_for_fork(), // held across the space's reservation
        pool,                                   // heap structures
        stats::lock_for_fork(),                 // live heaps' counters
        abandon::lock_for_fork(),               // abandoned segments
        big::holders_lock_for_fork(),           // threads' caches of big blocks (a leaf)
        &big::ARENA_LOCKS,                      // big arenas, in index order
        segment::cache::lock_for_fork(),        // empty segments
        whale::lock_for_fork(),                 // whale ring and registry
        site::lock_for_fork(),                  // sample pages, live samples, site rules
        site::profile::lock_for_fork(),         // the heap profile's table
        segment_space::lock_for_fork(),         // the segment space's slots (a leaf)
    ]
}

/// The two operations the fork handlers need, over locks of any content.
trait LockOps {
    fn take(&self);
    /// # Safety
    /// - the lock is held by the caller through `take` (or its holder no longer exists).
    unsafe fn release(&self);
}

impl<R: RawLock, T> LockOps for Locked<R, T> {
    fn take(&self) {
        self.lock_and_keep();
    }
    unsafe fn release(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.force_unlock() }
    }
}

impl<R: RawLock, T, const N: usize> LockOps for [Locked<R, T>; N] {
    fn take(&self) {
        self.iter().for_each(Locked::lock_and_keep);
    }
    unsafe fn release(&self) {
        for l in self {
            // SAFETY: the caller's contract, for each lock of the array.
            unsafe { l.force_unlock() }
        }
    }
}

/// Before `fork()`: take every lock, in order.
#[link_section = ".sacs_rare"]
extern "C" fn prepare() {
    locks().iter().for_each(|l| l.take());
}

/// After `fork()` in the parent: release them.
#[link_section = ".sacs_rare"]
extern "C" fn parent() {
    // SAFETY: `prepare` took every lock in this thread.
    locks().iter().rev().for_each(|l| unsafe { l.release() });
}

/// After `fork()` in the child: release them (the child is a copy of the forking thread, which
/// held them all).
#[link_section = ".sacs_rare"]
extern "C" fn child() {
    // SAFETY: as for `parent`; the child has only the forking thread.
    locks().iter().rev().for_each(|l| unsafe { l.release() });
}

/// Registers the handlers (once per process: [`crate::process::init`]).
pub fn register() {
    thread::at_fork(prepare, parent, child);
}
