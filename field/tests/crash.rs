//! Crash safety under `kill -9`: a child process (this test binary, re-executed with
//! `FIELD_CRASH_CHILD` set) trains a field in epochs, writing back after each and printing the
//! epoch number once its write-back has returned. The parent kills it with SIGKILL at a random
//! moment, reopens the file, and replays the same epochs in memory: every block in the file
//! must equal its content after the last printed epoch `k` or after epoch `k + 1` (the
//! write-back that may have been cut short), never a mix within a block, and must check out.
//!
//! The second test trains under a budget of 20 hot blocks (of the 64 of the layout), so that evictions hand
//! dirty blocks to the background writer in the middle of every epoch: a block in the file
//! must then hold its content after epoch `k` or after one of the updates of epoch `k + 1`
//! (the flush at the end of epoch `k` made every earlier version durable; an update pins its
//! blocks, so no block leaves in the middle of one), and check out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use field::{Budget, Field, Layout};

const CHILD_ENV: &str = "FIELD_CRASH_CHILD";
const BUDGET_ENV: &str = "FIELD_CRASH_BUDGET";
const TEST_NAME: &str = "a_kill_during_updates_leaves_every_block_old_or_new";
const BUDGET_TEST: &str = "a_kill_during_budgeted_training_leaves_every_block_at_a_version_it_had";

fn layout() -> Layout {
    Layout {
        dim: 3,
        levels: 2,
        log2_table: 14,
        features: 2,
        base_resolution: 16,    // 17³ vertices: dense
        finest_resolution: 256, // hashed
        log2_block_bytes: 12,
        init_scale: 0.1,
        seed: 5,
        ..Layout::default()
    }
}

/// The updates of one epoch: a function of the epoch number alone. `after_each` sees the
/// field and the point after every update.
fn run_epoch_with(f: &mut Field, epoch: u64, mut after_each: impl FnMut(&mut Field, [f32; 3])) {
    let mut rng = fastrand::Rng::with_seed(epoch);
    let grad: Vec<f32> = (0..f.output_len()).map(|_| rng.f32() - 0.5).collect();
    for _ in 0..24 {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        f.update(&x, &grad, 0.05).unwrap();
        after_each(f, x);
    }
}

fn run_epoch(f: &mut Field, epoch: u64) {
    run_epoch_with(f, epoch, |_, _| {});
}

/// The budget of the second test: 20 hot blocks of 4 KiB (an update touches at most 16),
/// no warm tier.
const BUDGET: Budget = Budget {
    hot_bytes: 20 * 4096,
    warm_bytes: 0,
};

/// The child: opens the field and trains until killed.
fn child(path: &Path) -> ! {
    let mut f = Field::open(path).unwrap();
    f.set_write_back_threshold(usize::MAX);
    if std::env::var_os(BUDGET_ENV).is_some() {
        f.set_budget(BUDGET).unwrap();
    }
    let mut out = std::io::stdout().lock();
    // The test harness has printed "test NAME ... " with no newline: end that line first.
    writeln!(out).unwrap();
    for epoch in 1.. {
        run_epoch(&mut f, epoch);
        f.flush().unwrap();
        writeln!(out, "epoch {epoch}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

type Snapshot = BTreeMap<u64, Vec<f32>>;

/// Replays epochs `1..=last + 1` in memory and returns every touched block's content after
/// `last` and after `last + 1` (blocks first touched in epoch `last + 1` are at their initial
/// values after `last`).
fn replay(dir: &Path, last: u64) -> (Snapshot, Snapshot) {
    let mut f = Field::create(dir.join("replay"), layout()).unwrap();
    let mut untouched = Field::create(dir.join("untouched"), layout()).unwrap();
    f.set_write_back_threshold(usize::MAX);
    let snapshot = |f: &mut Field| -> Snapshot {
        f.resident_blocks()
            .into_iter()
            .map(|b| (b, f.block_values(b).unwrap()))
            .collect()
    };
    for epoch in 1..=last {
        run_epoch(&mut f, epoch);
    }
    let mut before = snapshot(&mut f);
    run_epoch(&mut f, last + 1);
    let after = snapshot(&mut f);
    for &block in after.keys() {
        before
            .entry(block)
            .or_insert_with(|| untouched.block_values(block).unwrap());
    }
    (before, after)
}

/// Starts the child on a new field file at `path` (with the budget if `budget`), kills it
/// with SIGKILL after a random 10 – 250 ms, and returns the last epoch it printed.
fn train_and_kill(path: &Path, test: &str, budget: bool, rng: &mut fastrand::Rng) -> u64 {
    drop(Field::create(path, layout()).unwrap());
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if budget {
        command.env(BUDGET_ENV, "1");
    }
    let mut child = command.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(rng.u64(10..250)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    stdout
        .lines()
        .map_while(|l| l.ok())
        .filter_map(|l| {
            let (_, n) = l.rsplit_once("epoch ")?;
            n.trim().parse::<u64>().ok()
        })
        .last()
        .unwrap_or(0)
}

#[test]
fn a_kill_during_updates_leaves_every_block_old_or_new() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5ac5);
    let mut mixed = 0;
    for round in 0..6 {
        let path = dir.path().join(format!("crash-{round}"));
        let last = train_and_kill(&path, TEST_NAME, false, &mut rng);

        let mut f = Field::open(&path).expect("a killed writer's file opens");
        let report = f.check_file().unwrap();
        let replay_dir = tempfile::tempdir().unwrap();
        let (before, after) = replay(replay_dir.path(), last);
        let stored: BTreeSet<u64> = f.stored_blocks().into_iter().collect();
        assert!(
            stored.iter().all(|b| after.contains_key(b)),
            "a stored block no epoch touched"
        );
        // Blocks that epoch `last + 1` changed, found at their old and at their new content.
        let (mut old, mut new) = (0, 0);
        for (block, after_values) in &after {
            let got = f.block_values(*block).unwrap();
            let before_values = &before[block];
            if got != *before_values && got != *after_values {
                panic!("round {round}: block {block} is neither its epoch-{last} nor its epoch-{} content", last + 1);
            }
            if before_values != after_values {
                if got == *before_values {
                    old += 1;
                } else {
                    new += 1;
                }
            }
        }
        // One write was in flight when the process died: at most one slot can be torn, and
        // every other stored block's current version checks out.
        assert!(report.torn_slots <= 1, "{report:?}");
        assert!(
            report.readable + report.torn_slots >= report.blocks,
            "{report:?}"
        );
        if old > 0 && new > 0 {
            mixed += 1;
        }
        eprintln!("round {round}: killed after epoch {last}: of the blocks epoch {} changes, {old} old, {new} new; {report:?}", last + 1);
    }
    eprintln!("{mixed} of 6 kills fell in the middle of a write-back");
}

/// Every version each block had in memory from the end of epoch `last` to the end of epoch
/// `last + 1` (replayed without a budget), its initial values included for blocks first
/// touched in epoch `last + 1`.
fn versions(dir: &Path, last: u64) -> BTreeMap<u64, Vec<Vec<f32>>> {
    let (before, _) = replay(dir, last);
    let mut f = Field::create(dir.join("versions"), layout()).unwrap();
    f.set_write_back_threshold(usize::MAX);
    for epoch in 1..=last {
        run_epoch(&mut f, epoch);
    }
    let mut seen: BTreeMap<u64, Vec<Vec<f32>>> =
        before.into_iter().map(|(b, v)| (b, vec![v])).collect();
    let mut touched = Vec::new();
    run_epoch_with(&mut f, last + 1, |f, x| {
        touched.clear();
        f.blocks_of(&x, &mut touched).unwrap();
        for &(_, block) in &touched {
            let values = f.block_values(block).unwrap();
            seen.entry(block).or_default().push(values);
        }
    });
    seen
}

#[test]
fn a_kill_during_budgeted_training_leaves_every_block_at_a_version_it_had() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(0xb0d9);
    let mut mid_epoch = 0;
    for round in 0..6 {
        let path = dir.path().join(format!("budget-{round}"));
        let last = train_and_kill(&path, BUDGET_TEST, true, &mut rng);
        let mut f = Field::open(&path).expect("a killed writer's file opens");
        let report = f.check_file().unwrap();
        let replay_dir = tempfile::tempdir().unwrap();
        let seen = versions(replay_dir.path(), last);
        // Blocks found at a version from the middle of epoch `last + 1`.
        let mut middle = 0;
        assert!(
            f.stored_blocks().iter().all(|b| seen.contains_key(b)),
            "a stored block no epoch touched"
        );
        // Every block the epochs touched (one never written reads as its initial values).
        for (&block, had) in &seen {
            let got = f.block_values(block).unwrap();
            let Some(at) = had.iter().position(|v| *v == got) else {
                panic!("round {round}: block {block} holds no version it had after epoch {last}");
            };
            middle += (at > 0) as usize;
        }
        // Only the write-back in flight can have torn a slot; the others check out.
        assert!(
            report.readable + report.torn_slots >= report.blocks,
            "{report:?}"
        );
        if middle > 0 {
            mid_epoch += 1;
        }
        eprintln!(
            "round {round}: killed after epoch {last}: {middle} blocks at a version from inside epoch {}; {report:?}; {:?}",
            last + 1,
            f.store_stats().opened_by
        );
    }
    eprintln!("{mid_epoch} of 6 kills left blocks at versions from inside an epoch");
}
