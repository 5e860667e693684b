//! Bad pointers: freeing an address SACS never handed out (stack, static, libc's heap, libc's
//! code, a foreign mapping, the inside of a SACS block) is reported, counted, and with
//! `OnError = continue` survived without touching the heap; by default it aborts with a
//! one-line message naming the address (checked in a child process).

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;
use std::ptr;

const CHILD_ENV: &str = "SACS_TEST_BAD_POINTER_CHILD";

#[test]
fn invalid_frees_are_reported_counted_and_survived() {
    sacs::options::set(sacs::options::Opt::OnError, 1);
    static STATIC_BYTES: [u64; 8] = [7; 8];
    let stack = [0u64; 8];
    // SAFETY: a libc allocation, freed with libc::free at the end.
    let libc_block = unsafe { libc::malloc(256) } as *mut u8;
    // Unmapped at the end.
    let mapping = foreign_mapping(1 << 20);
    // SAFETY: writing our own memory.
    unsafe {
        ptr::write_bytes(libc_block, 0x3C, 256);
        ptr::write_bytes(mapping, 0x4D, 1 << 20);
    }

    // Real SACS blocks, whose interiors are not valid pointers to free.
    let sizes = [64, 4096, 100 * KIB, 3 * MIB];
    let real: Vec<*mut u8> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let p = sacs::alloc(size, 16);
            assert!(!p.is_null());
            // SAFETY: size bytes.
            unsafe { fill(p, size, i as u64) };
            p
        })
        .collect();

    let mut bad: Vec<(&str, *mut u8)> = vec![
        ("stack", stack.as_ptr() as *mut u8),
        ("static", STATIC_BYTES.as_ptr() as *mut u8),
        ("libc heap", libc_block),
        ("libc code", libc::malloc as *mut u8),
        ("foreign mapping", mapping),
        ("foreign mapping + 64 KiB", mapping.wrapping_add(64 * KIB)),
        ("address 0x10", 0x10 as *mut u8),
        ("unmapped high address", ((1usize << 46) + 4096) as *mut u8),
        ("tiny interior + 8", real[0].wrapping_add(8)),
        ("tiny interior + 32", real[0].wrapping_add(32)),
        ("mid interior + 16", real[1].wrapping_add(16)),
        ("mid interior + 2048", real[1].wrapping_add(2048)),
        ("big interior + 16", real[2].wrapping_add(16)),
        ("big interior + 64 KiB", real[2].wrapping_add(64 * KIB)),
        ("whale interior + 16", real[3].wrapping_add(16)),
        ("whale interior + 2 MiB", real[3].wrapping_add(2 * MIB)),
    ];
    for (what, p) in bad.drain(..) {
        let before = sacs::stats().invalid_frees;
        // SAFETY: not safe in the Rust sense: this is exactly the misuse under test, with
        // OnError = continue, where SACS must only report it.
        unsafe { sacs::free(p) };
        let after = sacs::stats().invalid_frees;
        assert_eq!(
            after,
            before + 1,
            "free({what} {p:p}) was not counted as invalid"
        );
    }

    // Nothing was corrupted: the real blocks, libc's block and the mapping are intact.
    for (i, (&p, &size)) in real.iter().zip(&sizes).enumerate() {
        // SAFETY: still live.
        unsafe { check(p, size, i as u64, "SACS block after bad frees") };
        assert!(sacs::owns(p));
    }
    // SAFETY: our own memory.
    unsafe {
        assert!(std::slice::from_raw_parts(libc_block, 256)
            .iter()
            .all(|&b| b == 0x3C));
        assert!(std::slice::from_raw_parts(mapping, 1 << 20)
            .iter()
            .all(|&b| b == 0x4D));
    }
    // And the blocks were not put on any free list: allocating the same sizes many times
    // never returns memory overlapping a live block.
    let live: Vec<(usize, usize)> = real
        .iter()
        .zip(&sizes)
        .map(|(&p, &s)| (p as usize, s))
        .collect();
    let mut fresh = Vec::new();
    for &size in &sizes {
        for _ in 0..if size < MIB { 200 } else { 4 } {
            let p = sacs::alloc(size, 16);
            assert!(!p.is_null());
            for &(q, qs) in &live {
                let a = p as usize;
                assert!(
                    a + size <= q || q + qs <= a,
                    "new block {p:p} overlaps a live block at {q:#x}"
                );
            }
            fresh.push(p);
        }
    }
    for p in fresh.into_iter().chain(real) {
        // SAFETY: live SACS blocks.
        unsafe { sacs::free(p) };
    }
    // SAFETY: ours, freed with their own functions.
    unsafe {
        libc::free(libc_block.cast());
        libc::munmap(mapping.cast(), 1 << 20);
    }
    std::hint::black_box(&stack);
}

/// Runs this test binary again as a child, in `mode`, and returns (status, stdout, stderr).
fn run_child(mode: &str, on_error: Option<&str>) -> (std::process::ExitStatus, String, String) {
    let mut cmd = child_command(CHILD_ENV, mode);
    cmd.env_remove("SACS_ON_ERROR");
    if let Some(v) = on_error {
        cmd.env("SACS_ON_ERROR", v);
    }
    let out = cmd.output().expect("spawn child");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn reported_address(stdout: &str) -> String {
    let at = stdout
        .find("BAD=0x")
        .unwrap_or_else(|| panic!("child printed no address:\n{stdout}"));
    let hex = &stdout[at + "BAD=0x".len()..];
    hex.split(|c: char| !c.is_ascii_hexdigit())
        .next()
        .unwrap()
        .to_ascii_lowercase()
}

fn assert_message(stderr: &str, addr: &str) {
    let line = stderr
        .lines()
        .find(|l| l.contains("invalid pointer 0x"))
        .unwrap_or_else(|| panic!("no 'invalid pointer 0x' message on stderr:\n{stderr}"));
    assert!(
        line.starts_with("sacs: "),
        "message does not name SACS: {line}"
    );
    assert!(
        line.to_ascii_lowercase().contains(addr),
        "message {line:?} does not name the address 0x{addr}"
    );
}

#[test]
fn default_mode_aborts_with_message() {
    let (status, stdout, stderr) = run_child("free_stack", None);
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "child was not killed by SIGABRT: {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        !stdout.contains("CHILD SURVIVED"),
        "child went on after the bad free"
    );
    assert_message(&stderr, &reported_address(&stdout));
}

#[test]
fn continue_by_environment() {
    let (status, stdout, stderr) = run_child("free_stack", Some("continue"));
    assert!(status.success(), "child failed with SACS_ON_ERROR=continue: {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("CHILD SURVIVED invalid_frees=1"),
        "child output:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_message(&stderr, &reported_address(&stdout));
}

#[test]
fn interior_pointer_aborts_by_default() {
    let (status, stdout, stderr) = run_child("free_interior", None);
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "child: {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_message(&stderr, &reported_address(&stdout));
}

/// The body of the child processes above; does nothing unless started by them.
#[test]
#[ignore = "run only as the child process of the bad-pointer subprocess tests"]
fn child_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let stack = [0u64; 4];
    let bad = match mode.as_str() {
        "free_stack" => stack.as_ptr() as *mut u8,
        "free_interior" => sacs::alloc(200, 16).wrapping_add(48),
        other => panic!("unknown child mode {other}"),
    };
    println!("BAD={bad:p}");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    // SAFETY: deliberately invalid: the misuse under test.
    unsafe { sacs::free(bad) };
    println!(
        "CHILD SURVIVED invalid_frees={}",
        sacs::stats().invalid_frees
    );
    std::hint::black_box(&stack);
}
