//! Without a cgroup memory limit, a pressure reading reads the kernel's pressure stall file
//! only, and the cgroup's limit file again every `pressure::NO_LIMIT_RECHECK_MS` (10 s): over
//! three seconds of slow calls after the first reading, about one reading a second, one file
//! is read per reading (one more allowed). Before, every reading read both (the limit file costs 66 – 81 µs
//! after a pause, most of a reading). Skipped where the process's cgroup has a limit or the
//! kernel has no pressure stall information. A process of its own: the counters are
//! process-wide.

mod common;

use common::rss::stats_table;
use common::*;
use sacs::Syscall;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The process's cgroup v1 memory limit, if one is set and readable.
fn cgroup_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
        ctl.split(',').any(|c| c == "memory").then_some(path)
    })?;
    let file = format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes");
    let limit: u64 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    (limit < 1 << 60).then_some(limit)
}

/// A request above the thread cache's bound, written and freed, then a 20 ms sleep: its slow
/// path runs the purge looks, the pressure check first, when they are due.
fn slow_call(round: u8) {
    let p = sacs::alloc(MIB, 16);
    assert!(!p.is_null());
    // SAFETY: a live block of 1 MiB, freed once.
    unsafe {
        p.write_bytes(round, MIB);
        sacs::free(p);
    }
    sleep(Duration::from_millis(20));
}

fn file_reads() -> u64 {
    sacs::stats().syscalls[Syscall::FileRead as usize].calls
}

#[test]
fn without_a_limit_a_reading_reads_the_stall_file_only() {
    watchdog(120, "pressure_readings");
    if !std::path::Path::new("/proc/pressure/memory").exists() {
        eprintln!("pressure_readings: skipped: no /proc/pressure/memory on this kernel");
        return;
    }
    if let Some(limit) = cgroup_limit() {
        eprintln!("pressure_readings: skipped: this process's cgroup has a limit ({limit} B)");
        return;
    }
    // The first reading comes a check interval (100 ms) after the first look, and finds the
    // cgroup; slow calls until it has been made.
    let warm_up = Instant::now();
    while sacs::stats().pressure_checks == 0 && warm_up.elapsed() < Duration::from_secs(2) {
        slow_call(0);
    }
    // A snapshot reads files of its own (the process's resident set and name).
    let own = {
        let a = file_reads();
        file_reads() - a
    };
    let before = sacs::stats();
    let start = Instant::now();
    let mut round = 1u8;
    while start.elapsed() < Duration::from_millis(3200) {
        slow_call(round);
        round = round.wrapping_add(1);
    }
    let after = sacs::stats();
    let file_read = Syscall::FileRead as usize;
    let reads = after.syscalls[file_read].calls - before.syscalls[file_read].calls - own;
    let checks = after.pressure_checks - before.pressure_checks;
    assert!(
        checks >= 2,
        "{checks} pressure readings in 3.2 s of slow calls (one a second expected)\n{}",
        stats_table()
    );
    assert!(
        reads <= checks + 1,
        "{reads} files read for {checks} readings: the limit file read more than once\n{}",
        stats_table()
    );
}
