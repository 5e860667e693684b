//! The block index through the public API: a clean close leaves an index that the next open
//! reads instead of scanning; a process killed after a write-back leaves it stale, and the open
//! detects that and scans; a damaged index is refused and scanned around.
//!
//! The kill test re-executes this test binary with `STORE_INDEX_CHILD` set: the child opens a
//! store whose index is clean, writes new versions of some blocks and new blocks, prints
//! `written` once the write-back has returned, and waits to be killed with SIGKILL.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};

use field::{BlockStore, Field, Layout, OpenedBy};

const CHILD_ENV: &str = "STORE_INDEX_CHILD";

/// Held by every test: a child spawned by one test inherits, between its fork and its exec,
/// the descriptors another test has open, and with them that test's `flock` — which would make
/// that test's reopen fail with `Locked` for a moment.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
const KILL_TEST: &str = "a_kill_after_a_write_back_leaves_a_stale_index_that_the_open_detects";

fn layout() -> Layout {
    Layout {
        dim: 2,
        levels: 2,
        log2_table: 14,
        features: 2,
        base_resolution: 4,
        finest_resolution: 64,
        log2_block_bytes: 12,
        ..Layout::default()
    }
}

/// The content of `block` at `version`: distinct for every block and version.
fn content(n: usize, block: u64, version: u32) -> Vec<f32> {
    (0..n)
        .map(|i| block as f32 * 1000.0 + version as f32 + i as f32 * 1e-4)
        .collect()
}

/// Blocks 0..24 at version 1, closed cleanly.
fn first_session(path: &Path) -> usize {
    let mut store = BlockStore::create(path, &layout()).unwrap();
    let n = store.blocking().floats_per_block();
    let v: Vec<Vec<f32>> = (0..24).map(|b| content(n, b, 1)).collect();
    let batch: Vec<(u64, &[f32])> = v
        .iter()
        .enumerate()
        .map(|(b, v)| (b as u64, &v[..]))
        .collect();
    store.write_back(&batch).unwrap();
    store.close().unwrap();
    n
}

/// The second session's write-back: blocks 0..8 at version 2, and if `append`, blocks 24..30
/// new (their pairs are appended over the old index and footer).
fn second_write_back(store: &mut BlockStore, n: usize, append: bool) {
    let new = if append { 24..30 } else { 24..24 };
    let v: Vec<(u64, Vec<f32>)> = (0..8)
        .map(|b| (b, content(n, b, 2)))
        .chain(new.map(|b| (b, content(n, b, 2))))
        .collect();
    let batch: Vec<(u64, &[f32])> = v.iter().map(|(b, v)| (*b, &v[..])).collect();
    store.write_back(&batch).unwrap();
}

/// Every block's expected content after the second write-back.
fn assert_after_second(store: &BlockStore, n: usize, append: bool) {
    let blocks = if append { 30 } else { 24 };
    assert_eq!(store.present_blocks(), (0..blocks).collect::<Vec<u64>>());
    let mut out = vec![0f32; n];
    for b in 0..blocks {
        assert!(store.read(b, &mut out).unwrap(), "block {b}");
        let version = if !(8..24).contains(&b) { 2 } else { 1 };
        assert_eq!(out, content(n, b, version), "block {b}");
    }
}

fn child(path: &Path) -> ! {
    let (_, mut store) = BlockStore::open(path).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Index);
    let n = store.blocking().floats_per_block();
    // Existing blocks only: the old footer stays where it was, so only its invalidation
    // keeps the open from trusting it.
    second_write_back(&mut store, n, false);
    let mut out = std::io::stdout().lock();
    writeln!(out).unwrap();
    writeln!(out, "written").unwrap();
    out.flush().unwrap();
    loop {
        std::thread::park();
    }
}

#[test]
fn a_kill_after_a_write_back_leaves_a_stale_index_that_the_open_detects() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(Path::new(&path));
    }
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed");
    let n = first_session(&path);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", KILL_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let written = stdout
        .lines()
        .map_while(|l| l.ok())
        .any(|l| l.trim() == "written");
    child.kill().unwrap(); // SIGKILL: no destructor runs, no index is written
    child.wait().unwrap();
    assert!(written, "the child wrote back");

    let (_, store) = BlockStore::open(&path).unwrap();
    let stats = store.stats();
    assert_eq!(
        (stats.opened_by, stats.scans),
        (OpenedBy::Scan, 1),
        "{stats:?}"
    );
    assert_eq!(stats.scan_reason, Some("no index at the end of the file"));
    assert_after_second(&store, n, false);
    let report = store.check().unwrap();
    assert_eq!(
        (report.blocks, report.readable, report.torn_slots),
        (24, 24, 0)
    );
    drop(store); // a clean close: the next open reads the index
    let (_, store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Index);
    assert_after_second(&store, n, false);
}

#[test]
fn a_clean_reopen_reads_the_index_and_no_slot() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean");
    let n = first_session(&path);
    let (_, mut store) = BlockStore::open(&path).unwrap();
    second_write_back(&mut store, n, true);
    drop(store);
    let (_, store) = BlockStore::open(&path).unwrap();
    let stats = store.stats();
    assert_eq!(
        (stats.opened_by, stats.scans, stats.slot_reads),
        (OpenedBy::Index, 0, 0)
    );
    assert_eq!(stats.scan_reason, None);
    assert_after_second(&store, n, true);
    assert_eq!(store.stats().slot_reads, 30, "one read per block");
}

#[test]
fn a_damaged_index_falls_back_to_the_scan() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged");
    let n = first_session(&path);
    let (_, mut store) = BlockStore::open(&path).unwrap();
    second_write_back(&mut store, n, true);
    drop(store);
    // The index sits just before the footer (the last 4 KiB): 30 entries of 40 bytes, at the
    // start of the 4 KiB page before the footer.
    let len = std::fs::metadata(&path).unwrap().len();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let at = len - 4096 - 4096 + 40 * 11 + 3; // inside entry 11
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], at).unwrap();
    drop(file);
    let (_, store) = BlockStore::open(&path).unwrap();
    let stats = store.stats();
    assert_eq!(stats.opened_by, OpenedBy::Scan);
    assert_eq!(stats.scan_reason, Some("the index fails its checksum"));
    assert_after_second(&store, n, true);
}

#[test]
fn a_field_closed_cleanly_reopens_from_its_index() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("field");
    let x = [0.3f32, 0.6];
    let mut before = vec![0f32; 4];
    {
        let mut f = Field::create(&path, layout()).unwrap();
        f.update(&x, &[0.5, -0.5, 0.25, 1.0], 0.1).unwrap();
        f.query(&x, &mut before).unwrap();
    }
    let (_, store) = BlockStore::open(&path).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Index);
    assert!(store.present_count() > 0);
    drop(store);
    let mut f = Field::open(&path).unwrap();
    let mut after = vec![0f32; 4];
    f.query(&x, &mut after).unwrap();
    assert_eq!(before, after);
}

/// The blocks of `store` and their values must be those of `f`.
fn assert_same_blocks(store: &BlockStore, f: &mut Field) {
    assert_eq!(store.present_blocks(), f.stored_blocks());
    let mut out = vec![0f32; store.blocking().floats_per_block()];
    for block in f.stored_blocks() {
        assert!(store.read(block, &mut out).unwrap(), "block {block}");
        assert_eq!(out, f.block_values(block).unwrap(), "block {block}");
    }
}

/// `Field::flush` writes the index, so that the file as a crash right after it would leave it
/// (copied while the field is still open, never closed) opens from the index; the next
/// write-back zeroes the footer before it writes a slot, so a copy taken after it scans.
#[test]
fn a_flush_writes_the_index_and_the_next_write_back_invalidates_it() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flushed");
    let mut f = Field::create(&path, layout()).unwrap();
    let grad = vec![0.25f32; f.output_len()];
    let mut rng = fastrand::Rng::with_seed(13);
    for _ in 0..40 {
        f.update(&[rng.f32(), rng.f32()], &grad, 0.1).unwrap();
    }
    f.flush().unwrap();
    assert_eq!(f.store_stats().index_writes, 1);
    let copy = dir.path().join("after-flush");
    std::fs::copy(&path, &copy).unwrap();
    let (_, store) = BlockStore::open(&copy).unwrap();
    assert_eq!(store.stats().opened_by, OpenedBy::Index);
    assert_same_blocks(&store, &mut f);
    drop(store);

    f.set_write_back_threshold(1);
    f.update(&[0.5, 0.5], &grad, 0.1).unwrap();
    f.wait_for_write_backs().unwrap();
    assert_eq!(f.store_stats().index_invalidations, 1);
    let copy = dir.path().join("after-write-back");
    std::fs::copy(&path, &copy).unwrap();
    let (_, store) = BlockStore::open(&copy).unwrap();
    let stats = store.stats();
    assert_eq!(
        (stats.opened_by, stats.scan_reason),
        (OpenedBy::Scan, Some("no index at the end of the file"))
    );
    assert_same_blocks(&store, &mut f);
}
