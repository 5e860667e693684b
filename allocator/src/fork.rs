//! `fork()` safety: every lock SACS has is taken before the fork and released after it, in the
//! parent and in the child, so the child never inherits a lock held by a thread that does not
//! exist in it. Registered with `pthread_atfork` when the first heap is made.
//!
//! Lock order (the only nesting in SACS): backstop → registry → abandoned list → big arenas →
//! segment cache → whale ring. `prepare` takes them in that order.
//!
//! In the child, heaps of the parent's other threads stay as they were: their blocks remain
//! valid (the child may free them; those frees go through the remote lists) and their pages are
//! simply never refilled: the same as a thread that never runs again.

use crate::{big, heap, segment, whale};

fn for_each_lock(f: impl Fn(&dyn LockOps)) {
    for l in heap::locks_for_fork() {
        f(l);
    }
    f(heap::registry_lock_for_fork());
    f(heap::abandoned_lock_for_fork());
    for a in big::ARENA_LOCKS.iter() {
        f(a);
    }
    f(segment::cache::lock_for_fork());
    f(whale::lock_for_fork());
}

/// The two operations the fork handlers need, over locks of any content.
trait LockOps {
    fn take(&self);
    /// # Safety
    /// - the lock is held by the caller through `take` (or its holder no longer exists).
    unsafe fn release(&self);
}

impl<T> LockOps for crate::lock::Lock<T> {
    fn take(&self) {
        self.lock_and_keep();
    }
    unsafe fn release(&self) {
        // SAFETY: the caller's contract.
        unsafe { self.force_unlock() }
    }
}

/// Before `fork()`: take every lock.
pub extern "C" fn prepare() {
    for_each_lock(|l| l.take());
}

/// After `fork()` in the parent: release them.
pub extern "C" fn parent() {
    // SAFETY: `prepare` took every lock in this thread.
    for_each_lock(|l| unsafe { l.release() });
}

/// After `fork()` in the child: release them (the child is a copy of the forking thread, which
/// held them all).
pub extern "C" fn child() {
    // SAFETY: as for `parent`; the child has only the forking thread.
    for_each_lock(|l| unsafe { l.release() });
}

/// Registers the handlers (once per process).
pub fn register() {
    // SAFETY: the handlers are `extern "C" fn()` with static lifetime.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}
