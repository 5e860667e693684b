//! `field-store-bench`: measures the block store alone — the cost of opening a field file (from
//! its index, or by the fallback scan) and of reading cold blocks one by one against
//! `BlockStore::read_many`. Each command prints one line of `key=value`.
//!
//! ```text
//! field-store-bench prepare --size-mib N --dir PATH [--block-kib 16] [--seed 1]
//! field-store-bench open --path FILE [--scan] [--no-drop-caches]
//! field-store-bench reads --path FILE [--blocks 2000] [--batch 64] [--in-flight 8] [--engine uring|threads] [--seed 1] [--no-drop-caches]
//! ```
//!
//! - `prepare` writes the `field-bench` layout of about N MiB with every block written once
//!   (`field::bench::prepare`) at `field::bench::field_path(dir, layout)` and prints the path.
//! - `open` drops the page cache (root only; `sync` first), resets the RSS peak
//!   (`/proc/self/clear_refs`), opens the file with `BlockStore::open` (or, with `--scan`,
//!   `open_with(path, false)`, which scans even if the index is clean), and reports the
//!   time, the RSS peak (`VmHWM`) and the RSS before, `read_bytes` of `/proc/self/io` (fetched
//!   from the disk), the bytes the store says it read, and the path it took. Run it in a
//!   fresh process per measurement: the peak is the process's.
//! - `reads` opens the file, picks twice `--blocks` distinct present blocks at random, drops
//!   the page cache once, then alternates, `--batch` blocks at a time: a batch read one by one
//!   with `read`, a batch (other blocks) read with `read_many_with` and `--in-flight` reads in
//!   flight through `--engine` (io_uring by default, or scoped threads), the first of the two switching every time, so that both meet the same
//!   background load (the disk is shared). Every block is read once, so every read is cold.
//!   Reports blocks per second of each, their ratio, and the bytes fetched from the disk.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use field::bench;
use field::{BlockStore, ReadEngine};

const USAGE: &str = "usage: field-store-bench prepare --size-mib N --dir PATH [--block-kib 16] [--seed 1]
       field-store-bench open --path FILE [--scan] [--no-drop-caches]
       field-store-bench reads --path FILE [--blocks 2000] [--batch 64] [--in-flight 8] [--engine uring|threads] [--seed 1] [--no-drop-caches]";

struct Args {
    command: String,
    size_mib: u64,
    dir: Option<PathBuf>,
    path: Option<PathBuf>,
    block_kib: u64,
    seed: u64,
    scan: bool,
    drop_caches: bool,
    blocks: usize,
    batch: usize,
    in_flight: usize,
    engine: ReadEngine,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or(USAGE)?;
    let mut a = Args {
        command,
        size_mib: 64,
        dir: None,
        path: None,
        block_kib: 16,
        seed: 1,
        scan: false,
        drop_caches: true,
        blocks: 2000,
        batch: 64,
        in_flight: field::READ_MANY_IN_FLIGHT,
        engine: ReadEngine::Uring,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{v:?}: {e}"));
        match flag.as_str() {
            "--size-mib" => a.size_mib = number(value()?)?,
            "--dir" => a.dir = Some(PathBuf::from(value()?)),
            "--path" => a.path = Some(PathBuf::from(value()?)),
            "--block-kib" => a.block_kib = number(value()?)?,
            "--seed" => a.seed = number(value()?)?,
            "--blocks" => a.blocks = number(value()?)? as usize,
            "--batch" => a.batch = (number(value()?)? as usize).max(1),
            "--in-flight" => a.in_flight = (number(value()?)? as usize).max(1),
            "--engine" => {
                a.engine = match value()?.as_str() {
                    "uring" => ReadEngine::Uring,
                    "threads" => ReadEngine::Threads,
                    other => return Err(format!("--engine {other:?}: uring or threads")),
                }
            }
            "--scan" => a.scan = true,
            "--no-drop-caches" => a.drop_caches = false,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    bench::log2_block_bytes(a.block_kib)?;
    Ok(a)
}

/// Writes back dirty pages and drops the page cache; false if not allowed (not root).
fn drop_page_cache() -> bool {
    // SAFETY: `sync` takes no arguments and only schedules dirty pages for writing.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "1").is_ok()
}

fn prepare(a: &Args) -> field::Result<()> {
    let dir = a.dir.as_deref().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let layout = bench::layout_for_size(
        a.size_mib,
        bench::log2_block_bytes(a.block_kib).expect("checked"),
        a.seed,
    );
    let path = bench::field_path(dir, &layout);
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let started = Instant::now();
    bench::prepare(&path, layout)?;
    let (len, allocated) = {
        let (_, store) = BlockStore::open(&path)?;
        store.disk_usage()?
    };
    println!(
        "prepare path={} size_mib={} create_s={:.2} file_bytes={len} allocated_bytes={allocated}",
        path.display(),
        a.size_mib,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn open(a: &Args, path: &Path) -> field::Result<()> {
    let dropped = a.drop_caches && drop_page_cache();
    let rss_before_kib = bench::status_kib("VmRSS");
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let read_bytes = bench::io_counter("read_bytes");
    let started = Instant::now();
    let (_, store) = BlockStore::open_with(path, !a.scan)?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let disk_bytes = bench::io_counter("read_bytes") - read_bytes;
    let peak_kib = bench::status_kib("VmHWM");
    let rss_after_kib = bench::status_kib("VmRSS");
    let stats = store.stats();
    // After a scan the drop rewrites the index (outside the measured time).
    drop(store);
    println!(
        "open opened_by={:?} open_ms={open_ms:.1} peak_kib={peak_kib} rss_before_kib={rss_before_kib} \
         rss_after_kib={rss_after_kib} disk_read_bytes={disk_bytes} store_read_bytes={} \
         dropped_caches={dropped} peak_reset={peak_reset} scan_reason={:?}",
        stats.opened_by,
        stats.open_bytes_read,
        stats.scan_reason.unwrap_or("-"),
    );
    Ok(())
}

fn reads(a: &Args, path: &Path) -> field::Result<()> {
    let (_, mut store) = BlockStore::open(path)?;
    store.set_read_engine(a.engine);
    let n = store.blocking().floats_per_block();
    let mut present = store.present_blocks();
    let mut rng = fastrand::Rng::with_seed(a.seed);
    rng.shuffle(&mut present);
    // Every block is read once: half one by one, half with read_many.
    present.truncate(2 * a.blocks);
    let segments = present.len() / (2 * a.batch);
    if segments == 0 {
        println!("reads blocks=0");
        return Ok(());
    }
    let mut sum = 0f64; // keeps the reads from being optimised away
    let mut out = vec![0f32; n];
    let mut bufs = vec![vec![0f32; n]; a.batch];
    let (mut one_s, mut many_s) = (0f64, 0f64);
    let (mut one_disk, mut many_disk) = (0u64, 0u64);
    let dropped = a.drop_caches && drop_page_cache();
    for (k, pair) in present.chunks_exact(2 * a.batch).enumerate() {
        let (ones, many) = pair.split_at(a.batch);
        // Alternate which goes first, so both meet the same background load.
        for step in [k % 2, 1 - k % 2] {
            let disk = bench::io_counter("read_bytes");
            let started = Instant::now();
            if step == 0 {
                for &b in ones {
                    assert!(store.read(b, &mut out)?);
                    sum += out[0] as f64;
                }
                one_s += started.elapsed().as_secs_f64();
                one_disk += bench::io_counter("read_bytes") - disk;
            } else {
                let mut outs: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
                let found = store.read_many_with(many, &mut outs, a.in_flight)?;
                assert!(found.iter().all(|&f| f));
                sum += bufs[0][0] as f64;
                many_s += started.elapsed().as_secs_f64();
                many_disk += bench::io_counter("read_bytes") - disk;
            }
        }
    }
    let count = segments * a.batch;
    let one_rate = count as f64 / one_s;
    let many_rate = count as f64 / many_s;
    println!(
        "reads blocks={count}+{count} batch={} in_flight={} engine={:?} ring_reads={} one_by_one_blocks_per_s={one_rate:.0} \
         read_many_blocks_per_s={many_rate:.0} ratio={:.2} one_by_one_us_per_block={:.1} \
         read_many_us_per_block={:.1} one_by_one_disk_bytes={one_disk} read_many_disk_bytes={many_disk} \
         dropped_caches={dropped} checksum={sum:.3}",
        a.batch,
        a.in_flight,
        a.engine,
        store.stats().ring_reads,
        many_rate / one_rate,
        one_s * 1e6 / count as f64,
        many_s * 1e6 / count as f64,
    );
    Ok(())
}

fn run(a: Args) -> Result<(), String> {
    let path = || {
        a.path
            .clone()
            .ok_or_else(|| format!("--path is needed\n{USAGE}"))
    };
    let result = match a.command.as_str() {
        "prepare" => prepare(&a),
        "open" => open(&a, &path()?),
        "reads" => reads(&a, &path()?),
        other => return Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    result.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    bench::cli_main("field-store-bench", parse_args, run)
}
