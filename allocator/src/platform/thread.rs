//! Threads: the thread-specific key whose destructor retires a thread's heap, the `fork()`
//! handlers, and yielding the processor (the lock's back-off).

/// A `pthread` thread-specific key.
pub type Key = libc::pthread_key_t;

/// Creates a key whose `destructor` runs at thread exit for every thread with a non-null value.
/// Returns `None` when the system has no keys left.
pub fn key_create(destructor: unsafe extern "C" fn(*mut libc::c_void)) -> Option<Key> {
    let mut key: Key = 0;
    // SAFETY: `key` is a valid out-parameter; the destructor has the required signature.
    (unsafe { libc::pthread_key_create(&mut key, Some(destructor)) } == 0).then_some(key)
}

/// The calling thread's value of `key` (null when unset).
#[inline]
pub fn key_get(key: Key) -> *mut libc::c_void {
    // SAFETY: `key` came from `key_create`; reading a value has no other precondition.
    unsafe { libc::pthread_getspecific(key) }
}

/// Sets the calling thread's value of `key`. May allocate inside the C library for high key
/// numbers: callers make sure such an allocation finds a usable heap.
pub fn key_set(key: Key, value: *mut libc::c_void) {
    // SAFETY: `key` came from `key_create`.
    unsafe { libc::pthread_setspecific(key, value) };
}

/// Registers `fork()` handlers: `prepare` runs before the fork, `parent` and `child` after it.
pub fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) {
    // SAFETY: the handlers are `extern "C" fn()` with static lifetime.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}

/// Yields the processor to another thread (used by the lock's back-off).
pub fn yield_now() {
    let _errno = super::KeepErrno::new();
    // SAFETY: sched_yield has no preconditions.
    unsafe { libc::sched_yield() };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    static DESTROYED: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn count(value: *mut libc::c_void) {
        DESTROYED.fetch_add(value as usize, Relaxed);
    }

    #[test]
    fn key_values_are_per_thread_and_destroyed_at_exit() {
        let key = key_create(count).expect("a key");
        key_set(key, 5 as *mut libc::c_void);
        std::thread::spawn(move || {
            assert!(key_get(key).is_null());
            key_set(key, 7 as *mut libc::c_void);
            assert_eq!(key_get(key) as usize, 7);
        })
        .join()
        .unwrap();
        assert_eq!(key_get(key) as usize, 5);
        assert_eq!(
            DESTROYED.load(Relaxed),
            7,
            "the exiting thread's value was destroyed"
        );
    }
}
