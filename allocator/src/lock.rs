//! The one lock SACS uses for its shared structures (the abandoned-segment list, the segment
//! cache, the big arenas, the whale ring): a test-and-test-and-set spin lock that yields the
//! processor after a short spin, so that a preempted holder on a 2-core machine is not starved
//! by waiters. Never used on the HOT path. `std`'s locks are not an option: they may allocate
//! and they are not `no_std`.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Relaxed, Release},
};

/// Spins before the first yield.
const SPINS_BEFORE_YIELD: u32 = 64;

/// A value guarded by a spin lock.
pub struct Lock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time.
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: moving the lock moves the value; `T: Send` makes that sound.
unsafe impl<T: Send> Send for Lock<T> {}

impl<T> Lock<T> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, spinning and then yielding until it is free.
    #[inline]
    pub fn lock(&self) -> Guard<'_, T> {
        if self
            .locked
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        Guard { lock: self }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> Option<Guard<'_, T>> {
        if !self.locked.load(Relaxed)
            && self
                .locked
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
        {
            Some(Guard { lock: self })
        } else {
            None
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut spins = 0;
        loop {
            while self.locked.load(Relaxed) {
                if spins < SPINS_BEFORE_YIELD {
                    core::hint::spin_loop();
                    spins += 1;
                } else {
                    crate::platform::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Takes the lock and keeps it until [`Lock::force_unlock`] (the fork handlers hold every
    /// lock across `fork()` this way).
    pub fn lock_and_keep(&self) {
        core::mem::forget(self.lock());
    }

    /// Releases a lock whose guard was forgotten (used by the fork handlers in the child, where
    /// the thread that held it no longer exists).
    ///
    /// # Safety
    /// - no live guard of this lock is used afterwards.
    pub unsafe fn force_unlock(&self) {
        self.locked.store(false, Release);
    }
}

/// Access to a locked value; unlocks when dropped.
pub struct Guard<'a, T> {
    lock: &'a Lock<T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock, so no one else accesses the value.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn excludes_other_threads() {
        let lock = Arc::new(Lock::new(0u64));
        let threads: std::vec::Vec<_> = (0..8)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let mut g = lock.lock();
                        let v = *g;
                        core::hint::black_box(&v);
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 160_000);
    }

    #[test]
    fn try_lock_fails_while_held() {
        let lock = Lock::new(());
        let g = lock.lock();
        assert!(lock.try_lock().is_none());
        drop(g);
        assert!(lock.try_lock().is_some());
    }
}
