//! What the field's background threads (the `reader`, the `writer` and `regions`) share: their
//! state behind one mutex with two condition variables (`work`, which wakes the thread, and
//! `progress`, which wakes callers waiting for it), the stop that lets the thread finish what it
//! is doing before it is joined, and the guard that marks the thread failed if it unwinds, so
//! that no caller waits for it forever.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// The state of a background thread, as [`Shared`] and [`DeathNotice`] need it.
pub trait WorkerState: Send + 'static {
    /// Asks the thread to stop (it finishes its current piece of work first).
    fn stop(&mut self);
    /// Records that the thread died with `why`: every later call fails with it.
    fn fail(&mut self, why: &str);
}

/// A background thread's state and its two condition variables.
pub struct Shared<S> {
    state: Mutex<S>,
    /// Signalled when there is work for the thread, or it is to stop.
    pub work: Condvar,
    /// Signalled when the thread finished a piece of work (or died).
    pub progress: Condvar,
}

impl<S: WorkerState> Shared<S> {
    pub fn new(state: S) -> Shared<S> {
        Shared {
            state: Mutex::new(state),
            work: Condvar::new(),
            progress: Condvar::new(),
        }
    }

    /// The state, locked (a poisoned lock is taken as it is: the state stays consistent
    /// because a thread that unwinds marks itself failed through its [`DeathNotice`]).
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the thread to stop, wakes it, and joins it (if it was started).
    pub fn stop_and_join(&self, thread: Option<JoinHandle<()>>) {
        self.lock().stop();
        self.work.notify_one();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Held by a background thread while it runs: if the thread unwinds, marks it failed (with the
/// message given) and wakes every caller waiting for its progress.
pub struct DeathNotice<S: WorkerState>(pub Arc<Shared<S>>, pub &'static str);

impl<S: WorkerState> Drop for DeathNotice<S> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().fail(self.1);
            self.0.progress.notify_all();
        }
    }
}
