//! Memory pressure: whether the process's memory cgroup is close to its limit.
//!
//! A container or a systemd unit with a memory limit kills (or, with `memory.high`, throttles)
//! a process whose cgroup goes over it, and memory that SACS keeps cached for reuse counts
//! against it like any other. So SACS reads where its cgroup stands, on slow paths, at most
//! every [`CHECK_MS`] ms, every [`NEAR_CHECK_MS`] ms once the working set is within
//! [`NEAR_POINTS`] of the threshold ([`check`], from the global purge look): the limit (cgroup v1
//! `memory.limit_in_bytes`; v2 the lower of `memory.max` and `memory.high`) and the working
//! set (usage less the inactive file cache, which the kernel drops first: v1
//! `memory.usage_in_bytes` − `total_inactive_file`, v2 `memory.current` − `inactive_file`).
//! When the working set is at or above `SACS_PRESSURE_PERCENT` of the limit, the process is
//! under pressure ([`active`]) until a later check finds it below: the look that found it
//! purges every shared cache at once, and the adaptive delays (a heap's purge delay, a big
//! arena's hot and cold delays) fall back to their options' values.
//!
//! The kernel's pressure stall information counts too, where it exists: when tasks waited for
//! memory at least [`STALL_HUNDREDTHS`] / 100 % of the last 10 seconds
//! (`/proc/pressure/memory`, "some avg10"), the process is under pressure as well, cgroup or
//! not: the machine is short of memory, and cached memory is the first to give back.
//!
//! The first reading comes [`CHECK_MS`] after the first look (a program that ends sooner
//! reads no file), and while the cgroup shows no limit its limit file is read again only every
//! [`NO_LIMIT_RECHECK_MS`]; the reading's code is in `.sacs_rare`.
//!
//! The cgroup is found once, from `/proc/self/cgroup` (v1 when a memory controller line is
//! there, else v2), under the usual mount points (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup`,
//! `/sys/fs/cgroup/unified`). Only the process's own cgroup is read, not its ancestors'
//! limits. Files are read into stack buffers: nothing allocates.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::options::{self, Opt};
use crate::platform;
use crate::stats::GLOBAL;

/// The shortest time (ms) between two checks.
pub const CHECK_MS: u64 = 100;

/// The longest time (ms) between two checks while the working set is far below the threshold
/// (more than twice [`NEAR_POINTS`] under it), or there is no limit: the pressure stall share
/// read then is a 10-second average, which one reading a second follows closely enough.
pub const FAR_CHECK_MS: u64 = 1000;

/// While the cgroup shows no limit, the time (ms) before its limit is read again: a limit
/// set on a running process's cgroup is noticed within this. Reading the limit file cost
/// 66 – 81 µs after a pause on the development machine (the pressure stall file 20 – 27);
/// read at every reading, once a second, it was most of what the check cost a program that
/// idles between short jobs (`workload pool`: about 70 µs at each of its six readings a run).
pub const NO_LIMIT_RECHECK_MS: u64 = 10_000;

/// The time (ms) between two checks while the working set is within [`NEAR_POINTS`] of the
/// pressure threshold, or over it: a program that fills its last tenth of the limit in less
/// than [`CHECK_MS`] is then still caught before the limit.
pub const NEAR_CHECK_MS: u64 = 10;

/// How close (percentage points of the limit) below `SACS_PRESSURE_PERCENT` the working set
/// counts as near.
pub const NEAR_POINTS: u64 = 20;

/// The system is under memory pressure when tasks were stalled waiting for memory at least
/// this share of the last 10 seconds (`/proc/pressure/memory`, "some avg10"), in hundredths
/// of a percent: 10 %.
pub const STALL_HUNDREDTHS: u64 = 1000;

/// The longest cgroup directory path kept.
const DIR_MAX: usize = 240;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Version {
    None,
    V1,
    V2,
}

/// The process's memory cgroup directory, found once.
struct Cgroup {
    version: Version,
    dir: [u8; DIR_MAX],
    len: usize,
}

static CGROUP: crate::lock::Once<Cgroup> = crate::lock::Once::new();
static NEXT_CHECK: AtomicU64 = AtomicU64::new(0);
/// The time by which the next reading is due whatever SACS's own memory did ([`FAR_CHECK_MS`]
/// after a reading far from the threshold; the reading's own time otherwise).
static READ_BY: AtomicU64 = AtomicU64::new(0);
/// SACS's committed bytes at the last reading, and how far they may grow before the next
/// reading is due at the [`CHECK_MS`] pace (`u64::MAX` without a limit).
static COMMITTED_AT_READ: AtomicU64 = AtomicU64::new(0);
static GROWTH_ALLOWED: AtomicU64 = AtomicU64::new(0);
static PRESSURED: AtomicBool = AtomicBool::new(false);
/// When (ms) the cgroup's limit may be read again after a reading found none.
static LIMIT_READ_AFTER: AtomicU64 = AtomicU64::new(0);

/// Whether the last check found the process under memory pressure.
#[inline]
pub fn active() -> bool {
    PRESSURED.load(Relaxed)
}

/// Reads where the cgroup stands if the last check is [`CHECK_MS`] old ([`NEAR_CHECK_MS`]
/// when it found the working set near the threshold; one thread per interval) and, when the
/// last reading was far from the threshold, either [`FAR_CHECK_MS`] have passed since or SACS
/// has committed the growth that reading allowed. Returns true when this call read it and
/// found the process under pressure: the caller purges then. Off (always false) with
/// `SACS_PRESSURE_PERCENT=0` or where no cgroup memory controller can be read.
#[inline(never)]
pub fn check(now: u64) -> bool {
    let percent = options::get(Opt::PressurePercent) as u64;
    if percent == 0 {
        return false;
    }
    let next = NEXT_CHECK.load(Relaxed);
    if next == 0 {
        // The first look: the first reading comes a check interval later, so a program that
        // ends sooner (most short commands) reads no file at all.
        let _ = NEXT_CHECK.compare_exchange(0, now + CHECK_MS, Relaxed, Relaxed);
        return false;
    }
    if now < next
        || NEXT_CHECK
            .compare_exchange(next, now + CHECK_MS, Relaxed, Relaxed)
            .is_err()
    {
        return false;
    }
    let committed = GLOBAL.committed_now() as u64;
    let grown = committed.saturating_sub(COMMITTED_AT_READ.load(Relaxed));
    if now < READ_BY.load(Relaxed) && grown < GROWTH_ALLOWED.load(Relaxed) {
        return false;
    }
    let cg = CGROUP.call_once(find_cgroup);
    let standing = if now < LIMIT_READ_AFTER.load(Relaxed) {
        None
    } else {
        let standing = cg.standing();
        if standing.is_none() {
            LIMIT_READ_AFTER.store(now + NO_LIMIT_RECHECK_MS, Relaxed);
        }
        standing
    };
    let stall = memory_stall();
    if standing.is_none() && stall.is_none() {
        // Nothing to read here (no limit, no stall information): look again a second later.
        PRESSURED.store(false, Relaxed);
        pace_next(now, committed, Some(u64::MAX));
        return false;
    }
    GLOBAL.pressure_checks.add(1);
    let mut pressured = false;
    // Far from the threshold (or without a limit), the next reading may wait.
    let mut pace = Pace::Far(u64::MAX);
    if let Some((limit, working)) = standing {
        GLOBAL.pressure_limit.store(limit, Relaxed);
        GLOBAL.pressure_working.store(working, Relaxed);
        pressured = working.saturating_mul(100) >= limit.saturating_mul(percent);
        pace = Pace::of(limit, working, percent);
        if pace == Pace::Near {
            NEXT_CHECK.store(now + NEAR_CHECK_MS, Relaxed);
        }
    }
    if let Some(stall) = stall {
        GLOBAL.pressure_stall.store(stall, Relaxed);
        pressured |= stall >= STALL_HUNDREDTHS;
        // Tasks have started to wait for memory: read at the usual pace.
        if stall >= STALL_HUNDREDTHS / 10 {
            pace = pace.min(Pace::Usual);
        }
    }
    pace_next(
        now,
        committed,
        match pace {
            Pace::Far(allowed) if !pressured => Some(allowed),
            _ => None,
        },
    );
    if pressured {
        GLOBAL.pressure_found.add(1);
    }
    PRESSURED.store(pressured, Relaxed);
    pressured
}

/// Sets when the next reading is due after one at `now` with SACS at `committed` bytes: with
/// `far`, [`FAR_CHECK_MS`] later or once SACS has committed that many bytes more; without, at
/// the next claim.
fn pace_next(now: u64, committed: u64, far: Option<u64>) {
    // Only the thread whose claim of `NEXT_CHECK` won writes these; a claim in a later
    // interval that reads some of them old and some new reads once early or late, no worse.
    COMMITTED_AT_READ.store(committed, Relaxed);
    let (by, allowed) = match far {
        Some(allowed) => (now + FAR_CHECK_MS, allowed),
        None => (now, 0),
    };
    READ_BY.store(by, Relaxed);
    GROWTH_ALLOWED.store(allowed, Relaxed);
}

/// How soon the next reading is due after one that read a limit and a working set.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Pace {
    /// Within [`NEAR_POINTS`] of the threshold, or over it: every [`NEAR_CHECK_MS`].
    Near,
    /// Within twice that: every [`CHECK_MS`].
    Usual,
    /// Farther: every [`FAR_CHECK_MS`], or at the usual pace once SACS has committed this many
    /// bytes more than at the reading (half the distance to the near line).
    Far(u64),
}

impl Pace {
    /// The pace for a working set of `working` bytes under a limit of `limit`, with the
    /// threshold at `percent` of it.
    fn of(limit: u64, working: u64, percent: u64) -> Pace {
        let line = |points: u64| limit / 100 * percent.saturating_sub(points);
        let near = line(NEAR_POINTS);
        if working >= near {
            Pace::Near
        } else if working >= line(2 * NEAR_POINTS) {
            Pace::Usual
        } else {
            Pace::Far((near - working) / 2)
        }
    }
}

/// The share of the last 10 s in which some task waited for memory (pressure stall
/// information, `/proc/pressure/memory`, "some avg10"), in hundredths of a percent; `None`
/// where the kernel does not provide it.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn memory_stall() -> Option<u64> {
    let mut buf = [0u8; 256];
    let n = platform::read_file(b"/proc/pressure/memory\0", &mut buf);
    some_avg10(&buf[..n])
}

/// "some avg10=12.34 ..." in the text of a pressure file, as 1234.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn some_avg10(text: &[u8]) -> Option<u64> {
    let line = text
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"some "))?;
    let field = line
        .split(|&b| b == b' ')
        .find_map(|f| f.strip_prefix(b"avg10="))?;
    let mut parts = field.splitn(2, |&b| b == b'.');
    let whole = parts
        .next()
        .filter(|w| !w.is_empty() && w.iter().all(u8::is_ascii_digit))?;
    let frac = parts.next().unwrap_or(b"");
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hundredths = frac
        .iter()
        .chain(b"00")
        .take(2)
        .fold(0, |v, &d| v * 10 + (d - b'0') as u64);
    Some(platform::parse_decimal(whole) as u64 * 100 + hundredths)
}

/// Finds the memory cgroup from `/proc/self/cgroup`.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn find_cgroup() -> Cgroup {
    let mut buf = [0u8; 2048];
    let n = platform::read_file(b"/proc/self/cgroup\0", &mut buf);
    let text = &buf[..n];
    let mut v1 = None;
    let mut v2 = None;
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line.splitn(3, |&b| b == b':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if controllers.split(|&b| b == b',').any(|c| c == b"memory") {
            v1 = Some(path);
        } else if id == b"0" && controllers.is_empty() {
            v2 = Some(path);
        }
    }
    /// A cgroup version, its mount point and the process's path under it (if listed).
    type Candidate<'a> = (Version, &'a [u8], Option<&'a [u8]>);
    let candidates: [Candidate; 3] = [
        (Version::V1, b"/sys/fs/cgroup/memory", v1),
        (Version::V2, b"/sys/fs/cgroup", v2),
        (Version::V2, b"/sys/fs/cgroup/unified", v2),
    ];
    for (version, mount, path) in candidates {
        let Some(path) = path else { continue };
        let mut cg = Cgroup {
            version,
            dir: [0; DIR_MAX],
            len: 0,
        };
        if !cg.set_dir(mount, path) {
            continue;
        }
        if cg.read_limit().is_some() {
            return cg;
        }
    }
    Cgroup {
        version: Version::None,
        dir: [0; DIR_MAX],
        len: 0,
    }
}

impl Cgroup {
    /// Sets the directory to `mount` + `path` (a path of "/" adds nothing). False if too long.
    fn set_dir(&mut self, mount: &[u8], path: &[u8]) -> bool {
        let path = if path == b"/" { &b""[..] } else { path };
        let len = mount.len() + path.len();
        if len >= DIR_MAX {
            return false;
        }
        self.dir[..mount.len()].copy_from_slice(mount);
        self.dir[mount.len()..len].copy_from_slice(path);
        self.len = len;
        true
    }

    /// Reads the file `name` of the cgroup into `buf`; the bytes read.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn read_file(&self, name: &[u8], buf: &mut [u8]) -> usize {
        let mut path = [0u8; DIR_MAX + 40];
        let total = self.len + 1 + name.len();
        if self.version == Version::None || total + 1 > path.len() {
            return 0;
        }
        path[..self.len].copy_from_slice(&self.dir[..self.len]);
        path[self.len] = b'/';
        path[self.len + 1..total].copy_from_slice(name);
        path[total] = 0;
        platform::read_file(&path[..total + 1], buf)
    }

    /// The first number in file `name`: `Some(u64::MAX)` for v2's `max`, `None` if unreadable.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn number(&self, name: &[u8]) -> Option<u64> {
        let mut buf = [0u8; 32];
        let n = self.read_file(name, &mut buf);
        let text = &buf[..n];
        if text.starts_with(b"max") {
            return Some(u64::MAX);
        }
        if text.first().is_some_and(u8::is_ascii_digit) {
            return Some(platform::parse_decimal(text) as u64);
        }
        None
    }

    /// The memory limit in bytes, if the cgroup's files can be read (`u64::MAX`: no limit).
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn read_limit(&self) -> Option<u64> {
        match self.version {
            Version::None => None,
            Version::V1 => self.number(b"memory.limit_in_bytes"),
            Version::V2 => {
                let max = self.number(b"memory.max")?;
                Some(max.min(self.number(b"memory.high").unwrap_or(u64::MAX)))
            }
        }
    }

    /// (limit, working set) in bytes, or `None` with no limit or unreadable files.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn standing(&self) -> Option<(u64, u64)> {
        let limit = self.read_limit()?;
        // v1 reports "no limit" as a huge page-rounded number.
        if limit >= 1 << 60 {
            return None;
        }
        let (usage_file, inactive_key): (&[u8], &[u8]) = match self.version {
            Version::V1 => (b"memory.usage_in_bytes", b"total_inactive_file "),
            _ => (b"memory.current", b"inactive_file "),
        };
        let usage = self.number(usage_file)?;
        let mut stat = [0u8; 4096];
        let n = self.read_file(b"memory.stat", &mut stat);
        let inactive = stat_value(&stat[..n], inactive_key).unwrap_or(0);
        Some((limit, usage.saturating_sub(inactive)))
    }
}

/// The value of the line `key N` in a `memory.stat` text (`key` ends with its space).
#[inline(never)]
#[link_section = ".sacs_rare"]
fn stat_value(text: &[u8], key: &[u8]) -> Option<u64> {
    text.split(|&b| b == b'\n')
        .find(|line| line.starts_with(key))
        .map(|line| platform::parse_decimal(&line[key.len()..]) as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stall_share_is_read_in_hundredths() {
        let text = b"some avg10=12.34 avg60=1.00 avg300=0.00 total=1335\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1106\n";
        assert_eq!(super::some_avg10(text), Some(1234));
        assert_eq!(super::some_avg10(b"some avg10=0.5 avg60=0"), Some(50));
        assert_eq!(super::some_avg10(b"some avg10=7 avg60=0"), Some(700));
        assert_eq!(super::some_avg10(b"full avg10=9.00"), None);
        assert_eq!(super::some_avg10(b"some avg10=x.1"), None);
        assert_eq!(super::some_avg10(b""), None);
        // This machine's kernel has PSI: a reading exists (and is a share, at most 100 %).
        if std::path::Path::new("/proc/pressure/memory").exists() {
            assert!(super::memory_stall().is_some_and(|s| s <= 10_000));
        }
    }

    use super::*;

    #[test]
    fn the_pace_follows_the_distance_to_the_threshold() {
        const MIB: u64 = 1 << 20;
        let limit = 1000 * MIB;
        // Threshold 90 %: near from 70 %, usual from 50 %, far below.
        assert_eq!(Pace::of(limit, 950 * MIB, 90), Pace::Near);
        assert_eq!(Pace::of(limit, 700 * MIB, 90), Pace::Near);
        assert_eq!(Pace::of(limit, 699 * MIB, 90), Pace::Usual);
        assert_eq!(Pace::of(limit, 500 * MIB, 90), Pace::Usual);
        // 300 MiB: 400 MiB to the near line, half of it may be committed before a reading.
        assert_eq!(Pace::of(limit, 300 * MIB, 90), Pace::Far(200 * MIB));
        // A threshold below twice the near points: no far zone.
        assert_eq!(Pace::of(limit, 0, 30), Pace::Usual);
        assert_eq!(Pace::of(limit, 0, 15), Pace::Near);
        assert!(Pace::Near < Pace::Usual && Pace::Usual < Pace::Far(0));
    }

    #[test]
    fn stat_lines_are_found_by_their_whole_key() {
        let text = b"cache 10\ninactive_file 300\ntotal_inactive_file 700\n";
        assert_eq!(stat_value(text, b"inactive_file "), Some(300));
        assert_eq!(stat_value(text, b"total_inactive_file "), Some(700));
        assert_eq!(stat_value(text, b"rss "), None);
    }

    #[test]
    fn directories_join_and_refuse_what_does_not_fit() {
        let mut cg = Cgroup {
            version: Version::V1,
            dir: [0; DIR_MAX],
            len: 0,
        };
        assert!(cg.set_dir(b"/sys/fs/cgroup/memory", b"/"));
        assert_eq!(&cg.dir[..cg.len], b"/sys/fs/cgroup/memory");
        assert!(cg.set_dir(b"/sys/fs/cgroup/memory", b"/a/b"));
        assert_eq!(&cg.dir[..cg.len], b"/sys/fs/cgroup/memory/a/b");
        assert!(!cg.set_dir(b"/sys", &[b'x'; DIR_MAX]));
    }

    #[test]
    fn this_machine_reads_or_says_it_cannot() {
        // Wherever the tests run, finding the cgroup must not fail loudly; with a limit, the
        // working set is below it or the process would not run.
        let cg = find_cgroup();
        if let Some((limit, working)) = cg.standing() {
            assert!(working <= limit.saturating_mul(2), "{working} vs {limit}");
        }
    }
}
