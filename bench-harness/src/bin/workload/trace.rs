//! The resident set over a workload's run: a reading at the end of each of its phases, and the
//! time-weighted mean of readings taken every so many allocator operations.
//!
//! A peak and a final reading say how high memory went and where it ended; they do not say how
//! long a program held what it no longer used. An allocator that gives freed memory back only
//! at the end, and one that gives it back as it goes, can share both figures and differ by half
//! in the memory they held on average. The mean here weighs each reading by the time until the
//! next one (the resident set stays what it was until something changes it), over the whole run
//! including the idle pauses of [`RssTrace::settle`].
//!
//! A reading is one `pread` of `/proc/self/statm` (about 2 µs here) into a buffer on the stack:
//! it makes no call to the allocator under test, so tracing does not change what it measures.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use crate::common::settle;

/// The resident set read every `every` operations, and at each phase's end.
pub struct RssTrace {
    /// `/proc/self/statm`, kept open for the run.
    statm: File,
    /// The page size in KiB.
    page_kib: u64,
    /// Operations between two readings.
    every: u64,
    /// The operation count at which [`RssTrace::tick`] reads next.
    next: u64,
    /// When the trace began.
    start: Instant,
    /// When the last reading was taken, in seconds from `start`, and what it read.
    last: (f64, u64),
    /// The integral of the resident set over time so far, in KiB·s.
    area: f64,
    /// Readings taken.
    samples: u64,
    /// Each finished phase's name and its resident set at the end, in KiB.
    phases: Vec<(&'static str, u64)>,
}

/// What an [`RssTrace`] found: `main` prints it as the fields `phases`, `phase_rss_kib`,
/// `mean_rss_kib` and `rss_samples`.
#[derive(Clone, Debug, Default)]
pub struct RssReport {
    /// Each phase's name and its resident set at the end, in KiB.
    pub phases: Vec<(&'static str, u64)>,
    /// The time-weighted mean resident set over the run, in KiB.
    pub mean_kib: u64,
    /// Readings the mean was taken from.
    pub samples: u64,
}

impl RssTrace {
    /// A trace that reads the resident set now and then once every `every` operations (as
    /// counted by the caller and passed to [`RssTrace::tick`]).
    pub fn new(every: u64) -> RssTrace {
        let statm = File::open("/proc/self/statm")
            .unwrap_or_else(|e| crate::common::fail(format_args!("/proc/self/statm: {e}")));
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
        let mut trace = RssTrace {
            statm,
            page_kib: (page / 1024).max(1),
            every: every.max(1),
            next: every.max(1),
            start: Instant::now(),
            last: (0.0, 0),
            area: 0.0,
            samples: 0,
            phases: Vec::with_capacity(16),
        };
        trace.last.1 = trace.read_kib();
        trace.samples = 1;
        trace
    }

    /// Reads the resident set if `ops` operations have been done since the last reading by
    /// operation count. One comparison otherwise, so it can sit in a workload's inner loop.
    #[inline(always)]
    pub fn tick(&mut self, ops: u64) {
        if ops >= self.next {
            self.next = ops + self.every;
            self.sample();
        }
    }

    /// Reads the resident set now and adds the time since the last reading, at the last
    /// reading's level, to the integral. Returns the reading, in KiB.
    pub fn sample(&mut self) -> u64 {
        let kib = self.read_kib();
        let now = self.start.elapsed().as_secs_f64();
        let (then, before) = self.last;
        self.area += before as f64 * (now - then);
        self.last = (now, kib);
        self.samples += 1;
        kib
    }

    /// Ends the phase `name`: reads the resident set and records it as the phase's.
    pub fn end_phase(&mut self, name: &'static str) {
        let kib = self.sample();
        self.phases.push((name, kib));
    }

    /// [`settle`], with a reading before and after the idle pause, so the pause counts in the
    /// mean at the level the allocator held through it.
    pub fn settle(&mut self) {
        self.sample();
        settle();
        self.sample();
    }

    /// Ends the trace with a last reading: the report covers the run up to now.
    pub fn finish(&mut self) -> RssReport {
        self.sample();
        let (span, last) = self.last;
        let mean = if span > 0.0 {
            self.area / span
        } else {
            last as f64
        };
        RssReport {
            phases: std::mem::take(&mut self.phases),
            mean_kib: mean.round() as u64,
            samples: self.samples,
        }
    }

    /// The resident set now, in KiB: the second field of `/proc/self/statm` (pages), read
    /// without allocating.
    fn read_kib(&self) -> u64 {
        let mut buf = [0u8; 128];
        let len = self.statm.read_at(&mut buf, 0).unwrap_or(0);
        let pages = buf[..len]
            .split(|&b| b == b' ')
            .nth(1)
            .and_then(|field| std::str::from_utf8(field).ok())
            .and_then(|field| field.trim().parse::<u64>().ok())
            .unwrap_or(0);
        pages * self.page_kib
    }
}

impl RssReport {
    /// The report's fields for `main`'s line: `phases=a/b/… phase_rss_kib=x/y/… mean_rss_kib=m
    /// rss_samples=n` (the first two only if the workload had phases).
    pub fn fields(&self) -> String {
        let mut out = String::new();
        if !self.phases.is_empty() {
            let names: Vec<&str> = self.phases.iter().map(|(name, _)| *name).collect();
            let kib: Vec<String> = self.phases.iter().map(|(_, k)| k.to_string()).collect();
            out += &format!(
                " phases={} phase_rss_kib={}",
                names.join("/"),
                kib.join("/")
            );
        }
        out += &format!(
            " mean_rss_kib={} rss_samples={}",
            self.mean_kib, self.samples
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_positive_and_phases_kept_in_order() {
        let mut trace = RssTrace::new(10);
        assert!(trace.read_kib() > 0, "/proc/self/statm read as 0 pages");
        trace.tick(5); // below `every`: no reading
        assert_eq!(trace.samples, 1);
        trace.tick(10);
        assert_eq!(trace.samples, 2);
        trace.end_phase("a");
        trace.end_phase("b");
        let report = trace.finish();
        let names: Vec<&str> = report.phases.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(report.mean_kib > 0);
        assert!(report.fields().starts_with(" phases=a/b phase_rss_kib="));
    }
}
