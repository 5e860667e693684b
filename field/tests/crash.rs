//! Crash safety under `kill -9`: a child process (this test binary, re-executed with
//! `FIELD_CRASH_CHILD` set) trains a field in epochs, writing back after each and printing the
//! epoch number once its write-back has returned. The parent kills it with SIGKILL at a random
//! moment, reopens the file, and replays the same epochs in memory: every block in the file
//! must equal its content after the last printed epoch `k` or after epoch `k + 1` (the
//! write-back that may have been cut short), never a mix within a block, and must check out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use field::{Field, Layout};

const CHILD_ENV: &str = "FIELD_CRASH_CHILD";
const TEST_NAME: &str = "a_kill_during_updates_leaves_every_block_old_or_new";

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

/// The updates of one epoch: a function of the epoch number alone.
fn run_epoch(f: &mut Field, epoch: u64) {
    let mut rng = fastrand::Rng::with_seed(epoch);
    let grad: Vec<f32> = (0..f.output_len()).map(|_| rng.f32() - 0.5).collect();
    for _ in 0..24 {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        f.update(&x, &grad, 0.05).unwrap();
    }
}

/// The child: opens the field and trains until killed.
fn child(path: &Path) -> ! {
    let mut f = Field::open(path).unwrap();
    f.set_write_back_threshold(usize::MAX);
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
        drop(Field::create(&path, layout()).unwrap());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(10..250)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let last = stdout
            .lines()
            .map_while(|l| l.ok())
            .filter_map(|l| {
                let (_, n) = l.rsplit_once("epoch ")?;
                n.trim().parse::<u64>().ok()
            })
            .last()
            .unwrap_or(0);

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
