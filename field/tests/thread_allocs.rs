//! The field's background reader and writer make no heap allocation of their own once running
//! (session 24): every buffer they use is made on the caller's thread, where the resident
//! budget counts it. Before, they made their buffers and lists per chunk and per write-back,
//! and the C library's allocator gave each thread an arena whose memory stayed resident
//! outside the budget: at 16x with the live predictor the 4 GiB benchmark's peak RSS passed
//! the budget and base by more than the stated 3 MiB (docs/field.md, "Session 23" and
//! "Session 24").
//!
//! A counting global allocator counts the allocations made on threads named `field-reader`
//! and `field-writer` (the name read with `prctl`, which allocates nothing) while a field under
//! a resident budget trains along a camera path with the live predictor on: reads ahead and
//! write-backs throughout. This file holds one test, so that no other test's threads count.

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use field::bench::{Points, Workload};
use field::{BlockStore, Budget, Field, Layout, Predictor, READ_MANY_IN_FLIGHT};

/// Counts allocations by the field's background threads while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static READER: AtomicUsize = AtomicUsize::new(0);
static WRITER: AtomicUsize = AtomicUsize::new(0);

fn note() {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes (the name and its NUL) into `name`, which
    // is 16 bytes long; it allocates nothing.
    if unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) } != 0 {
        return;
    }
    if name.starts_with(b"field-reader") {
        READER.fetch_add(1, Ordering::Relaxed);
    } else if name.starts_with(b"field-writer") {
        WRITER.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; `note` neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 8 levels of 2^18 entries, 2 features, 4 KiB blocks: 16 MiB in 4096 blocks.
fn layout() -> Layout {
    Layout {
        dim: 3,
        levels: 8,
        log2_table: 18,
        features: 2,
        base_resolution: 64,
        finest_resolution: 2048,
        log2_block_bytes: 12,
        init_scale: 0.1,
        seed: 24,
        ..Layout::default()
    }
}

fn train(f: &mut Field, points: &mut Points, steps: usize) {
    let width = f.output_len();
    for x in points.take_flat(steps).chunks(3) {
        let grad: Vec<f32> = (0..width).map(|i| (x[i % 3] - 0.5) * 0.3).collect();
        f.update(x, &grad, 0.05).unwrap();
    }
}

#[test]
fn the_background_threads_allocate_nothing_once_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Field::create(dir.path().join("allocs"), layout()).unwrap();
    // 4 MiB, of which a few hundred blocks' values: blocks keep leaving (dirty ones through
    // the writer) and the predictor's reads keep coming.
    f.set_resident_budget(Budget {
        hot_bytes: 3 << 20,
        warm_bytes: 1 << 20,
    })
    .unwrap();
    f.set_predictor(Some(Predictor {
        horizon: 8,
        ..Predictor::default()
    }));
    let mut points = Points::new(Workload::Camera, 24);
    // Warm-up: both threads start, the reader's buffers and the writer's plan reach their size.
    train(&mut f, &mut points, 6_000);
    f.flush().unwrap();
    let before = f.stats();
    assert!(before.gathered > 0 && before.write_backs > 0, "{before:?}");

    COUNTING.store(true, Ordering::Relaxed);
    train(&mut f, &mut points, 6_000);
    f.flush().unwrap();
    COUNTING.store(false, Ordering::Relaxed);
    let after = f.stats();
    let (reader, writer) = (
        READER.load(Ordering::Relaxed),
        WRITER.load(Ordering::Relaxed),
    );
    eprintln!(
        "while counted: {} blocks read ahead, {} write-backs; allocations on the reader {reader}, \
         on the writer {writer}",
        after.gathered - before.gathered,
        after.write_backs - before.write_backs,
    );
    assert!(
        after.gathered > before.gathered + 100,
        "the reader worked: {after:?}"
    );
    assert!(
        after.write_backs > before.write_backs + 10,
        "the writer worked: {after:?}"
    );
    assert_eq!(writer, 0, "allocations on the writer's thread");
    // Where io_uring is unavailable the reader uses `read_many`, which allocates.
    let store = BlockStore::create(&dir.path().join("probe"), &layout()).unwrap();
    if store.ring_reader(16, READ_MANY_IN_FLIGHT).is_none() {
        eprintln!("no io_uring here: the reader's count is not checked");
        return;
    }
    assert_eq!(reader, 0, "allocations on the reader's thread");
}
