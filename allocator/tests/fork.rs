//! fork() in a threaded process: while several threads allocate and free, the main thread forks
//! children that allocate, free (including blocks the parent's threads made) and exit; every
//! child must exit 0, and none may hang on a lock some parent thread held at the fork.
//! SACS is also the global allocator of this binary.

mod common;

use common::*;
use sacs::Sacs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: Sacs = Sacs;

fn churn(seed: u64, stop: &AtomicBool) {
    let mut r = Rng::new(seed);
    let mut live: Vec<(usize, usize, u64)> = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let size = match r.below(1000) {
            0..=799 => r.range(1, 1024),
            800..=979 => r.range(1025, 32 * KIB),
            980..=998 => r.range(32 * KIB + 1, MIB),
            _ => r.range(2 * MIB, 3 * MIB),
        };
        let p = sacs::alloc(size, 16);
        assert!(!p.is_null());
        let tag = seed << 40 | n;
        // SAFETY: size bytes.
        unsafe { fill(p, size, tag) };
        live.push((p as usize, size, tag));
        let s: String = format!("{seed}-{n}");
        std::hint::black_box(s);
        if n.is_multiple_of(64) {
            // Leave the other threads (the forking one, and the children) some processor time.
            thread::sleep(Duration::from_micros(50));
        }
        if live.len() > 200 {
            let (p, size, tag) = live.swap_remove(r.below(live.len()));
            // SAFETY: live block.
            unsafe {
                check(p as *const u8, size, tag, "parent thread block");
                sacs::free(p as *mut u8);
            }
        }
    }
    for (p, size, tag) in live {
        // SAFETY: live block.
        unsafe {
            check(p as *const u8, size, tag, "parent thread block");
            sacs::free(p as *mut u8);
        }
    }
}

/// What a child does; returns an exit code (0: all good).
fn child_body(inherited: &[(usize, usize, u64)]) -> i32 {
    let mut r = Rng::new(std::process::id() as u64);
    // Blocks made by a parent thread that does not exist in the child: verify and free them.
    for &(p, size, tag) in inherited {
        // SAFETY: the child has a copy of the parent's memory, blocks included.
        unsafe {
            check(p as *const u8, size, tag, "inherited block");
            sacs::free(p as *mut u8);
        }
    }
    let mut live = Vec::new();
    for i in 0..3000u64 {
        let size = if i % 1000 == 0 {
            3 * MIB
        } else if i % 10 == 0 {
            r.range(1025, 40 * KIB)
        } else {
            r.range(1, 1024)
        };
        let p = sacs::alloc(size, 8);
        if p.is_null() {
            return 2;
        }
        // SAFETY: size bytes.
        unsafe { fill(p, size, i) };
        live.push((p, size, i));
    }
    let words: Vec<String> = (0..2000).map(|i| format!("w{i}")).collect();
    if words.iter().map(|w| w.len()).sum::<usize>() != 10 * 2 + 90 * 3 + 900 * 4 + 1000 * 5 {
        return 3;
    }
    // A thread in the child, freeing what the child's main thread made.
    let handed: Vec<(usize, usize, u64)> = live
        .drain(..1500)
        .map(|(p, s, t)| (p as usize, s, t))
        .collect();
    let t = thread::spawn(move || {
        for (p, size, tag) in handed {
            // SAFETY: live blocks, handed to this thread.
            unsafe {
                check(p as *const u8, size, tag, "child block");
                sacs::free(p as *mut u8);
            }
        }
    });
    if t.join().is_err() {
        return 4;
    }
    for (p, size, tag) in live {
        // SAFETY: live blocks.
        unsafe {
            check(p, size, tag, "child block");
            sacs::free(p);
        }
    }
    0
}

#[test]
fn fork_while_threads_allocate() {
    watchdog(600, "fork_while_threads_allocate");
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let stop = stop.clone();
            thread::spawn(move || churn(i + 1, &stop))
        })
        .collect();
    // Blocks made on another thread, to be freed in the children.
    let inherited: Vec<(usize, usize, u64)> = thread::spawn(|| {
        (0..300u64)
            .map(|i| {
                let size = [16, 200, 3000, 50_000, 2 * MIB + 5][i as usize % 5];
                let p = sacs::alloc(size, 16);
                assert!(!p.is_null());
                // SAFETY: size bytes.
                unsafe { fill(p, size, 1 << 50 | i) };
                (p as usize, size, 1 << 50 | i)
            })
            .collect()
    })
    .join()
    .unwrap();

    let forks = scale(25, 10);
    let mut failures = Vec::new();
    for k in 0..forks {
        thread::sleep(Duration::from_millis(5));
        // SAFETY: the child only runs child_body (allocation, a thread) and then _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = std::panic::catch_unwind(|| child_body(&inherited)).unwrap_or(1);
            // SAFETY: leaves the child at once, running no atexit handlers or destructors.
            unsafe { libc::_exit(code) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            assert!(r >= 0, "waitpid failed");
            if r == pid {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                stop.store(true, Ordering::Relaxed);
                panic!("fork {k}: child {pid} hung for 30 s (a lock held across fork?)");
            }
            thread::sleep(Duration::from_millis(2));
        }
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            failures.push(format!(
                "fork {k}: child {pid} {}",
                if libc::WIFSIGNALED(status) {
                    format!("killed by signal {}", libc::WTERMSIG(status))
                } else {
                    format!("exited with {}", libc::WEXITSTATUS(status))
                }
            ));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker panicked");
    }
    assert!(
        failures.is_empty(),
        "children failed:\n{}",
        failures.join("\n")
    );
    // The parent still owns its inherited blocks (the children freed only their copies).
    for (p, size, tag) in inherited {
        // SAFETY: live in the parent.
        unsafe {
            check(p as *const u8, size, tag, "parent's block after forks");
            sacs::free(p as *mut u8);
        }
    }
}
