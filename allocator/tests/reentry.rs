//! The re-entry guard of validation builds: an entry point reached while the thread is already
//! inside SACS (as it would be if SACS called a libc function that allocates) reports and aborts.
//! Run with `--features validate` (scripts/test.sh does); without it the guard compiles to
//! nothing and there is nothing to test.
#![cfg(feature = "validate")]

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const CHILD: &str = "SACS_TEST_REENTRY_CHILD";

#[test]
fn an_entry_point_inside_another_aborts_with_a_message() {
    if std::env::var_os(CHILD).is_some() {
        // The child: pretend to be inside `free`, then call `malloc`.
        let _inside = sacs::internals::Reentry::enter("free");
        let p = sacs::c_api::malloc(10);
        println!("not reached {p:?}");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_entry_point_inside_another_aborts_with_a_message",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "status {:?}, stderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains("sacs: re-entered: malloc called from inside the allocator"),
        "stderr: {stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("not reached"));
}

#[test]
fn nested_internal_calls_are_not_re_entries() {
    // realloc moves the block (an internal alloc + free), calloc zeroes: one entry each.
    let p = sacs::c_api::malloc(100);
    // SAFETY: `p` is live; it is reallocated once and freed once.
    unsafe {
        let q = sacs::c_api::realloc(p, 1 << 20);
        assert!(!q.is_null());
        sacs::c_api::free(q);
    }
    let z = sacs::c_api::calloc(10, 10);
    // SAFETY: from calloc.
    unsafe { sacs::c_api::free(z) };
}
