//! One benchmark run's results and their `key=value` line.

use super::{Config, SlowCalls};

/// One run's results; [`Report::line`] prints them.
#[derive(Clone, Debug)]
pub struct Report {
    /// The run's parameters.
    pub config: Config,
    /// The layout's f32 bytes, MiB (what `size_mib` came to).
    pub layout_mib: f64,
    /// Whether the page cache was dropped before the field was reopened and again after
    /// (the mmap engine: before the file was mapped).
    pub dropped_caches: bool,
    /// Whether the peak RSS was reset (`/proc/self/clear_refs`) before the reopen and again
    /// before the measured loop.
    pub peak_reset: bool,
    /// Time to reopen the field file (or map the f32 file), ms.
    pub open_ms: f64,
    /// `read_bytes` during the reopen.
    pub open_bytes_read: u64,
    /// VmHWM just after the reopen, KiB (the file's mapping included).
    pub open_peak_kib: u64,
    /// VmRSS just before the reopen, KiB: the process without the field (its binary,
    /// libraries, stacks, the benchmark's points and histogram), so that `rss_peak_kib −
    /// base_rss_kib` is what the field (or the mapping) added.
    pub base_rss_kib: u64,
    /// Time of the warm-up pass (unlimited budget only), ms.
    pub warmup_ms: f64,
    /// Queries (updates) measured: `config.queries`, or fewer if `config.max_seconds` ended
    /// the loop first.
    pub queries: usize,
    /// Seconds of the measured loop (train: flush included).
    pub seconds: f64,
    /// Latency percentiles per query (per call divided by the batch size), µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Largest, µs.
    pub max_us: f64,
    /// Queries (updates) per second over the whole measured loop (train: flush included).
    pub queries_per_s: f64,
    /// The final flush of the training workload, ms (0 otherwise).
    pub flush_ms: f64,
    /// VmHWM after the run, KiB: the peak of the measured loop (and, with no budget, of the
    /// warm-up) if the reset worked. For the mmap engine it counts the mapped file pages.
    pub rss_peak_kib: u64,
    /// VmRSS after the run, KiB.
    pub rss_end_kib: u64,
    /// `read_bytes` of `/proc/self/io` during the measured loop (bytes fetched from storage,
    /// page faults' readahead included).
    pub bytes_read: u64,
    /// `rchar` of `/proc/self/io` during the measured loop (bytes through read calls, page
    /// cache hits included; page faults do not count).
    pub read_call_bytes: u64,
    /// Major page faults (`getrusage`) during the measured loop: for the mmap engine, the
    /// faults that waited for the disk.
    pub major_faults: u64,
    /// The field's statistics after the run (0 for the mmap engine).
    pub loads: u64,
    /// Feature rows answered from warm (f16) blocks.
    pub warm_reads: u64,
    /// Hot blocks at the end.
    pub hot_blocks: usize,
    /// Warm blocks at the end.
    pub warm_blocks: usize,
    /// Write-backs during the run.
    pub write_backs: u64,
    /// Hand-overs to the field's writer that waited for room during the run, and their
    /// total wait in ms.
    pub write_waits: u64,
    /// See `write_waits`.
    pub write_wait_ms: f64,
    /// The calls slower than `SLOW_CALL_NS` and where their time went.
    pub slow: SlowCalls,
    /// Blocks loaded ahead of their queries (`Stats::gathered`) during the loop.
    pub gathered: u64,
    /// Of those, the blocks a query then used while resident (`Stats::ahead_used`).
    pub ahead_used: u64,
    /// Points the live predictor prefetched (`Stats::predictions`).
    pub predictions: u64,
    /// Blocks loaded on the caller's thread (`TailCounters::loads`): the misses the queries
    /// waited for (before session 12, warm blocks' promotions too).
    pub caller_loads: u64,
    /// Warm blocks promoted to hot from their f16 copies, with no read
    /// (`TailCounters::promotions`, session 12).
    pub promotions: u64,
    /// The promotion threshold in force (`Field::promote_at`; 0 for the mapping).
    pub promote_at: u8,
    /// Single queries' joint reads and the blocks they read (`TailCounters::joint_reads`,
    /// session 21; within `caller_loads`).
    pub joint_reads: u64,
    /// See `joint_reads`.
    pub joint_blocks: u64,
    /// Blocks updates read again although warm, and of those, blocks read ahead into warm
    /// (`TailCounters::update_warm_loads`, `update_ahead_loads`; within `caller_loads`).
    pub update_warm_loads: u64,
    /// See `update_warm_loads`.
    pub update_ahead_loads: u64,
    /// Query rows whose block was not resident (`TailCounters::misses`): against a run
    /// without prefetch, `1 - misses / misses_without` is the prefetch's coverage.
    pub misses: u64,
    /// Block utilisation (entries used per residency / entries per block).
    pub utilisation: f64,
    /// Output values that were not finite (must be 0).
    pub non_finite: u64,
}

impl Report {
    /// The report as one line of `key=value` pairs separated by spaces.
    pub fn line(&self) -> String {
        let ms = |ns: u64| ns as f64 / 1e6;
        let c = &self.config;
        let latency = if c.batch > 1 {
            format!("batch/{}", c.batch)
        } else {
            "query".to_string()
        };
        format!(
            "engine={} workload={} size_mib={} layout_mib={:.0} budget_mib={} queries={} \
             queries_asked={} max_s={} seconds={:.2} batch={} latency_per={} p50_us={:.2} \
             p99_us={:.2} p999_us={:.2} max_us={:.2} queries_per_s={:.0} flush_ms={:.1} \
             rss_peak_kib={} rss_end_kib={} bytes_read={} read_call_bytes={} major_faults={} \
             loads={} warm_reads={} hot_blocks={} warm_blocks={} write_backs={} \
             utilisation={:.4} non_finite={} open_ms={:.1} open_bytes_read={} open_peak_kib={} \
             base_rss_kib={} \
             warmup_ms={:.1} dropped_caches={} peak_reset={} write_waits={} write_wait_ms={:.1} \
             read_ahead={} look_ahead={} slow_calls={} slow_ms={:.1} slow_load_ms={:.1} \
             slow_read_wait_ms={:.1} slow_evict_ms={:.1} slow_handover_ms={:.1} \
             slow_write_wait_ms={:.1} slow_with_handover={} predict={} gathered={} \
             ahead_used={} predictions={} caller_loads={} misses={} promotions={} promote_at={} \
             slow_loads={} bar_calls={} bar_ms={:.1} bar_load_ms={:.1} bar_loads={} \
             slow_joint_reads={} bar_joint_reads={} joint_reads={} joint_blocks={} \
             update_warm_loads={} update_ahead_loads={}",
            c.engine.name(),
            c.workload.name(),
            c.size_mib,
            self.layout_mib,
            c.budget_mib,
            self.queries,
            c.queries,
            c.max_seconds,
            self.seconds,
            c.batch,
            latency,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.queries_per_s,
            self.flush_ms,
            self.rss_peak_kib,
            self.rss_end_kib,
            self.bytes_read,
            self.read_call_bytes,
            self.major_faults,
            self.loads,
            self.warm_reads,
            self.hot_blocks,
            self.warm_blocks,
            self.write_backs,
            self.utilisation,
            self.non_finite,
            self.open_ms,
            self.open_bytes_read,
            self.open_peak_kib,
            self.base_rss_kib,
            self.warmup_ms,
            self.dropped_caches,
            self.peak_reset,
            self.write_waits,
            self.write_wait_ms,
            c.read_ahead.unwrap_or(crate::DEFAULT_READ_AHEAD_BLOCKS),
            c.look_ahead,
            self.slow.calls,
            ms(self.slow.ns),
            ms(self.slow.load_ns),
            ms(self.slow.read_wait_ns),
            ms(self.slow.eviction_ns),
            ms(self.slow.dirty_hand_over_ns),
            ms(self.slow.write_wait_ns),
            self.slow.with_dirty_hand_over,
            c.predict,
            self.gathered,
            self.ahead_used,
            self.predictions,
            self.caller_loads,
            self.misses,
            self.promotions,
            self.promote_at,
            self.slow.loads,
            self.slow.bar_calls,
            ms(self.slow.bar_ns),
            ms(self.slow.bar_load_ns),
            self.slow.bar_loads,
            self.slow.joint_reads,
            self.slow.bar_joint_reads,
            self.joint_reads,
            self.joint_blocks,
            self.update_warm_loads,
            self.update_ahead_loads,
        )
    }
}
