//! The segment space (`SACS_SEGMENT_SPACE_GIB`): segments are mapped in one reserved range,
//! where `free` finds a block's page through a table. Each mode runs in a child process (the
//! space is reserved once per process, at its first segment) and must give the same results:
//! blocks of every tier written and read back across two threads, frees by the owner and by the
//! other thread, bad frees reported and survived, including frees of addresses whose segment
//! was given back to the system.
//!
//! - `space`: the default, every segment in the space;
//! - `off`: `SACS_SEGMENT_SPACE_GIB=0`, every segment mapped on its own;
//! - `limited`: an address-space limit (`RLIMIT_AS`, as `ulimit -v` sets) below the default
//!   reservation, which is retried smaller;
//! - `full`: a 1 GiB space that fills up, after which segments are mapped beside it;
//! - `race`: eight threads that need their first segments at once, under the address-space
//!   limit (whose refused sizes make the reservation take four system calls): every segment is
//!   in the space, the threads that came during the reservation having waited for it.

mod common;

use common::*;

const CHILD_ENV: &str = "SACS_TEST_SEGMENT_SPACE_CHILD";
/// Slots of the default space: 64 GiB of 4 MiB segments.
const DEFAULT_SLOTS: u64 = 16384;

/// What a child reports: `key=value` words after `RESULT` on one line.
struct Report(Vec<(String, u64)>);

impl Report {
    fn get(&self, key: &str) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no {key} in the child's report"))
            .1
    }
}

fn run_child(mode: &str, env: &[(&str, &str)]) -> Report {
    let mut cmd = child_command(CHILD_ENV, mode);
    cmd.env_remove("SACS_SEGMENT_SPACE_GIB");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child {mode} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let at = stdout
        .find("RESULT ")
        .unwrap_or_else(|| panic!("child {mode} printed no RESULT:\n{stdout}\n{stderr}"));
    let line = stdout[at..].lines().next().unwrap();
    Report(
        line.split_whitespace()
            .skip(1)
            .map(|w| {
                let (k, v) = w.split_once('=').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect(),
    )
}

/// Checks common to every mode: the bad frees were each counted once, and some blocks' segments
/// were given back and their addresses then refused.
fn assert_bad_frees_counted(r: &Report, mode: &str) {
    assert_eq!(
        r.get("invalid"),
        r.get("bad_frees"),
        "{mode}: not every bad free was counted"
    );
    assert!(
        r.get("gone") > 0,
        "{mode}: no segment was given back, the test freed nothing after one"
    );
}

#[test]
fn default_space_holds_every_segment() {
    let r = run_child("space", &[]);
    assert_eq!(r.get("slots"), DEFAULT_SLOTS);
    assert!(
        r.get("mapped") >= 12,
        "the exercise maps at least 12 segments"
    );
    assert_eq!(r.get("in_space"), r.get("mapped"));
    assert_bad_frees_counted(&r, "space");
}

#[test]
fn switched_off_maps_every_segment_on_its_own() {
    let r = run_child("off", &[("SACS_SEGMENT_SPACE_GIB", "0")]);
    assert_eq!(r.get("slots"), 0);
    assert_eq!(r.get("in_space"), 0);
    assert!(r.get("mapped") >= 12);
    assert_bad_frees_counted(&r, "off");
}

#[test]
fn an_address_space_limit_gets_a_smaller_space() {
    // The child limits itself to 12 GiB of address space before SACS's first segment: 64, 32
    // and 16 GiB are refused, 8 GiB is reserved.
    let r = run_child("limited", &[]);
    let slots = r.get("slots");
    assert!(
        slots > 0 && slots < DEFAULT_SLOTS,
        "the limited space has {slots} slots"
    );
    assert_eq!(r.get("in_space"), r.get("mapped"));
    assert_bad_frees_counted(&r, "limited");
}

#[test]
fn a_full_space_leaves_the_rest_to_segments_of_their_own() {
    let r = run_child("full", &[("SACS_SEGMENT_SPACE_GIB", "1")]);
    assert_eq!(r.get("slots"), 256);
    // `in_space` counts every segment mapped in the space, a slot used again counted again.
    assert!(
        r.get("mapped") > r.get("in_space") && r.get("in_space") >= 256,
        "the space did not fill up: {} of {} segments in it",
        r.get("in_space"),
        r.get("mapped")
    );
    assert_bad_frees_counted(&r, "full");
}

#[test]
fn threads_that_start_together_all_get_segments_in_the_space() {
    // Before the threads waited for the reservation, the first child already had segments
    // mapped on their own, out of the idle heaps' look (three builds of three).
    for run in 0..8 {
        let r = run_child("race", &[]);
        assert!(r.get("slots") > 0, "run {run}: no space");
        assert!(r.get("mapped") >= RACERS, "run {run}: a segment per thread");
        assert_eq!(
            r.get("in_space"),
            r.get("mapped"),
            "run {run}: segments mapped outside the space"
        );
    }
}

/// Threads of the `race` mode.
const RACERS: u64 = 8;

/// The `race` mode: [`RACERS`] threads released together, each making its first small block
/// (its heap's first segment), while the space is not reserved yet.
fn race_for_the_space() {
    let start = std::sync::Arc::new(std::sync::Barrier::new(RACERS as usize));
    let racers: Vec<_> = (0..RACERS)
        .map(|tag| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let block = alloc_filled(100, tag);
                // Every racer holds its block until all have one: no heap (nor its segment)
                // retires and serves a racer that came late.
                start.wait();
                check_and_free(block, "a racer's block");
            })
        })
        .collect();
    racers.into_iter().for_each(|r| r.join().unwrap());
    let s = sacs::stats();
    println!(
        "RESULT slots={} mapped={} in_space={}",
        s.segment_space_slots, s.segments_mapped, s.segments_in_space
    );
}

/// The child side: runs only with [`CHILD_ENV`] set.
#[test]
#[ignore]
fn child_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    if mode == "limited" || mode == "race" {
        let limit = libc::rlimit {
            rlim_cur: 12 << 30,
            rlim_max: 12 << 30,
        };
        // SAFETY: a valid rlimit for our own process.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    }
    if mode == "race" {
        return race_for_the_space();
    }
    sacs::options::set(sacs::options::Opt::OnError, 1);
    let mut bad_frees = 0;
    // The space is reserved by the first thread that needs a segment, before the threads below
    // need theirs (the race is the `race` mode's).
    let first = sacs::alloc(64, 8);
    assert!(!first.is_null());
    // SAFETY: a live block of ours, freed once.
    unsafe { sacs::free(first) };

    // Many segments' worth of small blocks (1-slice mid pages of 4 KiB blocks, tiny blocks) in
    // two threads; in `full` mode, first enough big blocks (one 4 MiB segment per three) to fill
    // the 1 GiB space, so that the small blocks' segments come after it.
    let big: Vec<usize> = if mode == "full" {
        (0..800)
            .map(|i| {
                let p = sacs::alloc(MIB, 16);
                assert!(!p.is_null());
                // SAFETY: MIB bytes; only the ends are written (no need to commit the middle).
                unsafe {
                    fill(p, 64, i);
                    fill(p.add(MIB - 64), 64, i);
                }
                p as usize
            })
            .collect()
    } else {
        Vec::new()
    };
    let make = |tag: u64| {
        std::thread::spawn(move || {
            let mut rng = Rng::new(tag);
            (0..12_000)
                .map(|i| {
                    let size = if i % 3 == 0 { rng.range(1, 1024) } else { 4096 };
                    let p = sacs::alloc(size, 8);
                    assert!(!p.is_null());
                    // SAFETY: size bytes.
                    unsafe { fill(p, size, tag * 1_000_000 + i) };
                    (p as usize, size, tag * 1_000_000 + i)
                })
                .collect::<Vec<_>>()
        })
    };
    let (a, b) = (make(1), make(2));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for &(p, size, tag) in a.iter().chain(&b) {
        // SAFETY: live blocks of `size` bytes.
        unsafe { check(p as *const u8, size, tag, "block before the frees") };
    }

    // A segment header is not a block.
    let header = (a[0].0 & !(4 * MIB - 1)) + 64;
    // SAFETY: the misuse under test (OnError = continue).
    unsafe { sacs::free(header as *mut u8) };
    bad_frees += 1;

    // Frees: `a`'s blocks by this thread, `b`'s by a third thread (neither is their owner, both
    // threads are gone: the frees go to the slow path, or to the heap the next thread took).
    for &(p, _, _) in &a {
        // SAFETY: live SACS blocks, freed once.
        unsafe { sacs::free(p as *mut u8) };
    }
    let b_copy = b.clone();
    std::thread::spawn(move || {
        for &(p, _, _) in &b_copy {
            // SAFETY: live SACS blocks, freed once.
            unsafe { sacs::free(p as *mut u8) };
        }
        for &p in &big {
            // SAFETY: live SACS blocks, freed once.
            unsafe { sacs::free(p as *mut u8) };
        }
    })
    .join()
    .unwrap();

    // Everything goes back; the blocks whose segments went with it are refused.
    sacs::purge();
    let gone: Vec<usize> = a
        .iter()
        .chain(&b)
        .map(|&(p, _, _)| p)
        .filter(|&p| !sacs::owns(p as *const u8))
        .collect();
    for &p in gone.iter().step_by(97).take(50) {
        // SAFETY: the misuse under test: an address in a segment given back.
        unsafe { sacs::free(p as *mut u8) };
        bad_frees += 1;
    }

    // And the allocator still works: new blocks, written and read back.
    let again: Vec<*mut u8> = (0..4000)
        .map(|i| {
            let p = sacs::alloc(4096, 8);
            // SAFETY: 4096 bytes.
            unsafe { fill(p, 4096, 7_000_000 + i) };
            p
        })
        .collect();
    for (i, &p) in again.iter().enumerate() {
        // SAFETY: live blocks of 4096 bytes.
        unsafe {
            check(p, 4096, 7_000_000 + i as u64, "block after the frees");
            sacs::free(p);
        }
    }

    let s = sacs::stats();
    println!(
        "RESULT slots={} in_space={} mapped={} invalid={} bad_frees={} gone={}",
        s.segment_space_slots,
        s.segments_in_space,
        s.segments_mapped,
        s.invalid_frees,
        bad_frees,
        gone.len()
    );
}
