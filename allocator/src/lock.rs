//! The one lock SACS uses for its shared structures (the abandoned-segment list, the segment
//! cache, the big arenas, the whale ring): a test-and-test-and-set spin lock that yields the
//! processor after a short spin, so that a preempted holder on a 2-core machine is not starved
//! by waiters. Never used on the HOT path. `std`'s locks are not an option: they may allocate
//! and they are not `no_std`.
//!
//! No spin lock is held across a system call: code under a [`Lock`] collects what it needs
//! (mappings to unmap, runs to decommit) and makes the calls after unlocking, so a waiter spins
//! for a few hundred instructions at most. Validation builds count the spin locks each thread
//! holds (`tls::locks_held`) and `platform::memory` aborts when a memory system call is made with the count
//! above zero. The one place that must hold a lock across system calls (the heap's backstop,
//! held across a whole refill) uses [`SleepLock`], a futex mutex whose waiters sleep; it is not
//! counted.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{
    AtomicU32, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

/// A lock's state word: how to take it and release it. It guards nothing itself ([`Locked`]).
pub trait RawLock {
    /// The unlocked state.
    const UNLOCKED: Self;
    /// Takes the lock, waiting until it is free.
    fn lock(&self);
    /// Takes the lock if it is free; returns whether it did.
    fn try_lock(&self) -> bool;
    /// Releases the lock, which the caller holds.
    fn unlock(&self);
    /// Whether someone holds the lock (tests).
    #[cfg(test)]
    fn is_locked(&self) -> bool;
}

/// A value guarded by a lock of kind `R`.
pub struct Locked<R, T> {
    raw: R,
    value: UnsafeCell<T>,
}

/// A value guarded by a spin lock ([`Spin`]).
pub type Lock<T> = Locked<Spin, T>;
/// A value guarded by a sleeping lock ([`Futex`]).
pub type SleepLock<T> = Locked<Futex, T>;

// SAFETY: the lock hands out access to `value` to one thread at a time.
unsafe impl<R: Sync, T: Send> Sync for Locked<R, T> {}
// SAFETY: moving the lock moves the value; `T: Send` makes that sound.
unsafe impl<R: Send, T: Send> Send for Locked<R, T> {}

impl<R: RawLock, T> Locked<R, T> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> Self {
        Self {
            raw: R::UNLOCKED,
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, waiting until it is free.
    #[inline]
    pub fn lock(&self) -> Guard<'_, R, T> {
        self.raw.lock();
        Guard { lock: self }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> Option<Guard<'_, R, T>> {
        // `then`, not `then_some`: a guard made and dropped on failure would release the lock
        // that another thread holds.
        self.raw.try_lock().then(|| Guard { lock: self })
    }

    /// Takes the lock and keeps it until [`Locked::force_unlock`] (the fork handlers hold every
    /// lock across `fork()` this way).
    pub fn lock_and_keep(&self) {
        core::mem::forget(self.lock());
    }

    /// Releases a lock whose guard was forgotten (the fork handlers: in the child, where the
    /// threads that might wait no longer exist, and in the parent, waking a sleeper if any).
    ///
    /// # Safety
    /// - the lock is held through [`Locked::lock_and_keep`] by the calling thread (or its copy
    ///   in a fork child), and no live guard of this lock is used afterwards.
    pub unsafe fn force_unlock(&self) {
        self.raw.unlock();
    }

    /// Whether someone holds the lock (tests).
    #[cfg(test)]
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }
}

/// Access to a locked value; unlocks when dropped.
pub struct Guard<'a, R: RawLock, T> {
    lock: &'a Locked<R, T>,
}

impl<R: RawLock, T> Deref for Guard<'_, R, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<R: RawLock, T> DerefMut for Guard<'_, R, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock, so no one else accesses the value.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<R: RawLock, T> Drop for Guard<'_, R, T> {
    fn drop(&mut self) {
        self.lock.raw.unlock();
    }
}

/// Spins before the first yield.
const SPINS_BEFORE_YIELD: u32 = 64;

/// A test-and-test-and-set spin lock that yields the processor after a short spin. Validation
/// builds count the spin locks each thread holds.
///
/// The word holds its holder's thread token (`platform::thread::token`, the thread pointer), 0
/// when free, so that a thread that asks for a lock it holds itself is told apart from one that
/// waits for another thread: that can only be a re-entry (a signal handler that calls `malloc`
/// while its thread was inside SACS), which would spin forever. It is reported and the process
/// aborts, as glibc does, instead of hanging.
pub struct Spin(AtomicUsize);

/// The token a thread stores in a [`Spin`] it takes: never 0 (where the target gives no thread
/// pointer, every thread stores 1 and self-deadlock goes undetected).
#[inline(always)]
fn holder_token() -> usize {
    crate::platform::thread::token().max(1)
}

impl RawLock for Spin {
    const UNLOCKED: Self = Spin(AtomicUsize::new(0));

    #[inline]
    fn lock(&self) {
        let me = holder_token();
        if self
            .0
            .compare_exchange_weak(0, me, Acquire, Relaxed)
            .is_err()
        {
            self.lock_contended(me);
        }
        crate::platform::tls::lock_taken();
    }

    #[inline]
    fn try_lock(&self) -> bool {
        let taken = self.0.load(Relaxed) == 0
            && self
                .0
                .compare_exchange(0, holder_token(), Acquire, Relaxed)
                .is_ok();
        if taken {
            crate::platform::tls::lock_taken();
        }
        taken
    }

    #[inline]
    fn unlock(&self) {
        // The fork handlers release on the thread that took the lock (in the child, its copy),
        // so the held-lock count balances.
        self.0.store(0, Release);
        crate::platform::tls::lock_released();
    }

    #[cfg(test)]
    fn is_locked(&self) -> bool {
        self.0.load(Relaxed) != 0
    }
}

impl Spin {
    #[cold]
    fn lock_contended(&self, me: usize) {
        let mut spins = 0;
        loop {
            loop {
                let holder = self.0.load(Relaxed);
                if holder == 0 {
                    break;
                }
                if holder == me && me != 1 {
                    self_deadlock();
                }
                back_off(&mut spins);
            }
            if self
                .0
                .compare_exchange_weak(0, me, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// One wait of a spinning thread: a pause instruction for the first [`SPINS_BEFORE_YIELD`]
/// waits, then the processor given up, so that a preempted holder gets to run.
#[inline]
pub fn back_off(spins: &mut u32) {
    if *spins < SPINS_BEFORE_YIELD {
        core::hint::spin_loop();
        *spins += 1;
    } else {
        crate::platform::thread::yield_now();
    }
}

/// A thread asked for a spin lock it holds: it would wait for itself forever.
#[cold]
fn self_deadlock() -> ! {
    const MESSAGE: &str = "sacs: a thread re-entered the allocator while inside it (malloc or free called from a signal handler?); aborting\n";
    #[cfg(test)]
    panic!("{}", MESSAGE.trim_end());
    #[cfg(not(test))]
    {
        crate::platform::write_stderr(MESSAGE.as_bytes());
        crate::platform::abort()
    }
}

/// [`Once`] states besides a running thread's token: nothing done yet, and done.
const ONCE_NEW: usize = 0;
const ONCE_DONE: usize = usize::MAX;

/// A value made once, by the first thread that asks for it; later callers wait until it is
/// made. SACS's own rather than `spin::Once` for the same reason as [`Spin`]: the state word
/// holds the maker's thread token while it runs, so a thread that asks again while making it
/// (a signal handler that calls `malloc` while its thread was starting SACS up) is reported
/// and the process aborts, instead of waiting for itself forever. After the value is made a
/// call is one load.
pub struct Once<T> {
    state: AtomicUsize,
    value: UnsafeCell<core::mem::MaybeUninit<T>>,
}

// SAFETY: the value is written once, by one thread, before the state says `ONCE_DONE` with
// release ordering; every reader first sees `ONCE_DONE` with acquire ordering, and then only
// reads it. `T: Sync` because several threads read it; `T: Send` because the thread that made
// it may not be the one that drops it (statics are never dropped).
unsafe impl<T: Send + Sync> Sync for Once<T> {}

impl<T> Once<T> {
    /// A value not made yet.
    pub const fn new() -> Self {
        Self {
            state: AtomicUsize::new(ONCE_NEW),
            value: UnsafeCell::new(core::mem::MaybeUninit::uninit()),
        }
    }

    /// The value, made by `make` if no thread has made it yet; waits while another thread
    /// makes it. `make` must not panic (the core never does): a panic would leave the state
    /// naming its thread, and every later caller would wait or report a re-entry.
    #[inline]
    pub fn call_once(&self, make: impl FnOnce() -> T) -> &T {
        if self.state.load(Acquire) != ONCE_DONE {
            self.make_or_wait(make);
        }
        // SAFETY: the state is `ONCE_DONE` (seen with acquire ordering here or in
        // `make_or_wait`), so the value was written and is never written again.
        unsafe { (*self.value.get()).assume_init_ref() }
    }

    #[cold]
    fn make_or_wait(&self, make: impl FnOnce() -> T) {
        let me = holder_token();
        match self.state.compare_exchange(ONCE_NEW, me, Acquire, Acquire) {
            Ok(_) => {
                // SAFETY: this thread moved the state from `ONCE_NEW` to its token, so it is
                // the only one to write the value, and no one reads it before `ONCE_DONE`.
                unsafe { (*self.value.get()).write(make()) };
                self.state.store(ONCE_DONE, Release);
            }
            Err(_) => {
                let mut spins = 0;
                loop {
                    let state = self.state.load(Acquire);
                    if state == ONCE_DONE {
                        return;
                    }
                    if state == me && me != 1 {
                        self_deadlock();
                    }
                    back_off(&mut spins);
                }
            }
        }
    }

    /// Whether the value has been made (tests).
    #[cfg(test)]
    pub fn is_made(&self) -> bool {
        self.state.load(Acquire) == ONCE_DONE
    }
}

/// [`Futex`] states.
const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
/// Locked, and a thread may be sleeping on it: the unlock must wake one.
const CONTENDED: u32 = 2;

/// A sleeping lock: a futex mutex (mutex 2 of Drepper's "Futexes are tricky": 0 unlocked, 1
/// locked, 2 locked with waiters), whose waiters sleep in the kernel instead of spinning. For the
/// one lock that is held across system calls (the heap's backstop, held across a whole refill).
/// An uncontended lock and unlock are one atomic each and no system call. It is not a spin
/// lock: the validation check on system calls does not count it.
///
/// Lock order: a `SleepLock` comes before every spin lock, so a thread that sleeps on one holds
/// no spin lock (the futex calls are exempt from the check, which does not verify this).
pub struct Futex(AtomicU32);

impl RawLock for Futex {
    const UNLOCKED: Self = Futex(AtomicU32::new(UNLOCKED));

    #[inline]
    fn lock(&self) {
        if let Err(seen) = self.0.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed) {
            self.lock_contended(seen);
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.0
            .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
            .is_ok()
    }

    /// Releases the lock, waking one sleeper if there may be one.
    #[inline]
    fn unlock(&self) {
        if self.0.fetch_sub(1, Release) != LOCKED {
            self.0.store(UNLOCKED, Release);
            crate::platform::thread::futex_wake(&self.0, 1);
        }
    }

    #[cfg(test)]
    fn is_locked(&self) -> bool {
        self.0.load(Relaxed) != UNLOCKED
    }
}

impl Futex {
    #[cold]
    fn lock_contended(&self, mut seen: u32) {
        // Mark the lock contended (unless it was just released), then sleep while it stays so;
        // whoever takes it from here on leaves it contended, so no wake-up is lost.
        if seen != CONTENDED {
            seen = self.0.swap(CONTENDED, Acquire);
        }
        while seen != UNLOCKED {
            crate::platform::thread::futex_wait(&self.0, CONTENDED);
            seen = self.0.swap(CONTENDED, Acquire);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_thread_asking_for_a_lock_it_holds_is_caught_and_another_thread_waits() {
        let spin = Arc::new(Lock::new(0u32));
        let held = spin.lock();
        // Another thread waits (it is not the holder) and gets the lock once it is released.
        let other = {
            let spin = Arc::clone(&spin);
            std::thread::spawn(move || *spin.lock() += 1)
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(spin.lock())));
        let message = again.expect_err("the holder asking again is caught");
        let text = message
            .downcast_ref::<std::string::String>()
            .expect("a message");
        assert!(text.contains("re-entered"), "{text}");
        drop(held);
        other.join().expect("the other thread took the lock");
        assert_eq!(*spin.lock(), 1);
        assert!(
            crate::platform::thread::token() != 0,
            "this target gives a thread token"
        );
    }

    #[test]
    fn once_makes_its_value_once_for_racing_threads() {
        static ONCE: Once<u64> = Once::new();
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let threads: std::vec::Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    *ONCE.call_once(|| {
                        MADE.fetch_add(1, Relaxed);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        42
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().expect("a caller"), 42);
        }
        assert_eq!(MADE.load(Relaxed), 1, "made by one thread only");
        assert!(ONCE.is_made());
        assert_eq!(
            *ONCE.call_once(|| 7),
            42,
            "a later call does not make it again"
        );
    }

    #[test]
    fn once_asked_again_by_the_thread_making_it_is_caught() {
        let once: Once<u32> = Once::new();
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            once.call_once(|| *once.call_once(|| 1) + 1);
        }));
        let message = again.expect_err("the re-entry is caught");
        let text = message
            .downcast_ref::<std::string::String>()
            .expect("a message");
        assert!(text.contains("re-entered"), "{text}");
    }

    #[test]
    fn a_failed_try_lock_leaves_the_holders_lock_alone() {
        let spin = Lock::new(());
        let held = spin.lock();
        assert!(spin.try_lock().is_none());
        assert!(spin.is_locked(), "the spin lock is still held");
        drop(held);
        let sleep = SleepLock::new(());
        let held = sleep.lock();
        assert!(sleep.try_lock().is_none());
        assert!(sleep.is_locked(), "the sleeping lock is still held");
        drop(held);
        assert!(!spin.is_locked() && !sleep.is_locked());
    }

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
    fn sleep_lock_excludes_other_threads() {
        let lock = Arc::new(SleepLock::new(0u64));
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
        assert!(!lock.is_locked());
    }

    #[test]
    fn sleep_lock_try_lock_and_keep() {
        let lock = SleepLock::new(());
        let g = lock.lock();
        assert!(lock.is_locked());
        assert!(lock.try_lock().is_none());
        drop(g);
        assert!(!lock.is_locked());
        lock.lock_and_keep();
        assert!(lock.try_lock().is_none());
        // SAFETY: held through `lock_and_keep` by this thread; no guard is live.
        unsafe { lock.force_unlock() };
        assert!(lock.try_lock().is_some());
    }

    #[cfg(feature = "validate")]
    #[test]
    fn held_spin_locks_are_counted_per_thread() {
        let a = Lock::new(());
        let b = Lock::new(());
        let s = SleepLock::new(());
        let base = crate::platform::tls::locks_held();
        {
            let _ga = a.lock();
            assert_eq!(crate::platform::tls::locks_held(), base + 1);
            let _gb = b.try_lock().unwrap();
            assert_eq!(crate::platform::tls::locks_held(), base + 2);
            let _gs = s.lock();
            assert_eq!(
                crate::platform::tls::locks_held(),
                base + 2,
                "a sleeping lock is not counted"
            );
            std::thread::spawn(|| assert_eq!(crate::platform::tls::locks_held(), 0))
                .join()
                .unwrap();
        }
        assert_eq!(crate::platform::tls::locks_held(), base);
        a.lock_and_keep();
        assert_eq!(crate::platform::tls::locks_held(), base + 1);
        // SAFETY: held through `lock_and_keep` by this thread; no guard is live.
        unsafe { a.force_unlock() };
        assert_eq!(crate::platform::tls::locks_held(), 0);
    }

    #[cfg(feature = "validate")]
    #[test]
    #[should_panic(expected = "mmap called while holding a SACS spin lock")]
    fn a_system_call_under_a_spin_lock_is_caught() {
        let lock = Lock::new(());
        let _g = lock.lock();
        let _ = crate::platform::map(crate::platform::OS_PAGE, false);
    }

    #[cfg(feature = "validate")]
    #[test]
    fn a_system_call_after_the_guard_drops_is_fine() {
        let lock = Lock::new(());
        drop(lock.lock());
        assert_eq!(crate::platform::tls::locks_held(), 0);
        let p = crate::platform::map(crate::platform::OS_PAGE, false).unwrap();
        // SAFETY: the page was just mapped and is unused.
        unsafe { crate::platform::unmap(p.as_ptr(), crate::platform::OS_PAGE) };
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
