//! `interleaved [ROUNDS] [SLICE_MS]`: the workloads of `benches/compare.rs`, with the contenders
//! taking turns.
//!
//! A cross-check for criterion on a noisy shared machine. Criterion measures one contender for
//! seconds, then the next, so a burst of load from a neighbour lands on one contender and skews
//! the ratio. Here every round runs each contender for one short slice (SLICE_MS, default 10 ms),
//! the order rotating from round to round, and the ratio is taken *within* each round; the table
//! gives the median over ROUNDS (default 40) of the per-round ns / iteration and of the per-round
//! ratios. Slow drifts and bursts longer than a round cancel out of the ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sacs_bench_harness::{
    fmt_ns, layout, pair, scenario, size_label, tiny_hot, Contender, Ring, BURST, BURST_SIZE,
    MIMALLOC, PAIR_SIZES, SACS, SCENARIOS, SYSTEM,
};

#[derive(Clone, Copy)]
enum Kind {
    Pair(usize),
    Mixed,
    Scenario(usize),
    TinyHot,
}

/// One random-mixed ring per contender, kept across rounds as criterion keeps one per benchmark.
struct Rings {
    sacs: Ring<'static, sacs::Sacs>,
    mimalloc: Ring<'static, mimalloc::MiMalloc>,
    system: Ring<'static, std::alloc::System>,
}

fn run(kind: Kind, c: Contender, iters: u64, rings: &mut Rings) -> Duration {
    let start = Instant::now();
    match (kind, c) {
        (Kind::Pair(size), c) => {
            let l = layout(size);
            match c {
                Contender::Sacs => (0..iters).for_each(|_| pair(&SACS, black_box(l))),
                Contender::Mimalloc => (0..iters).for_each(|_| pair(&MIMALLOC, black_box(l))),
                Contender::System => (0..iters).for_each(|_| pair(&SYSTEM, black_box(l))),
            }
        }
        (Kind::Mixed, Contender::Sacs) => (0..iters).for_each(|_| rings.sacs.step()),
        (Kind::Mixed, Contender::Mimalloc) => (0..iters).for_each(|_| rings.mimalloc.step()),
        (Kind::Mixed, Contender::System) => (0..iters).for_each(|_| rings.system.step()),
        (Kind::Scenario(size), Contender::Sacs) => {
            (0..iters).for_each(|_| scenario(&SACS, black_box(size)))
        }
        (Kind::Scenario(size), Contender::Mimalloc) => {
            (0..iters).for_each(|_| scenario(&MIMALLOC, black_box(size)))
        }
        (Kind::Scenario(size), Contender::System) => {
            (0..iters).for_each(|_| scenario(&SYSTEM, black_box(size)))
        }
        (Kind::TinyHot, Contender::Sacs) => (0..iters).for_each(|_| tiny_hot(&SACS)),
        (Kind::TinyHot, Contender::Mimalloc) => (0..iters).for_each(|_| tiny_hot(&MIMALLOC)),
        (Kind::TinyHot, Contender::System) => (0..iters).for_each(|_| tiny_hot(&SYSTEM)),
    }
    start.elapsed()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
        .max(1);
    let slice_ms: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .max(1);
    let slice = Duration::from_millis(slice_ms);

    let mut workloads: Vec<(String, Kind)> = PAIR_SIZES
        .iter()
        .map(|&(size, _)| (format!("pair_{}", size_label(size)), Kind::Pair(size)))
        .collect();
    workloads.push(("random_mixed_16-1024B".into(), Kind::Mixed));
    for &(name, size) in &SCENARIOS {
        workloads.push((
            format!("scenario_{name}_{}", size_label(size)),
            Kind::Scenario(size),
        ));
    }
    workloads.push((format!("tiny_hot_{BURST}x{BURST_SIZE}B"), Kind::TinyHot));

    let mut rings = Rings {
        sacs: Ring::new(&SACS, 0x5ac5_2024),
        mimalloc: Ring::new(&MIMALLOC, 0x5ac5_2024),
        system: Ring::new(&SYSTEM, 0x5ac5_2024),
    };

    println!(
        "Interleaved: {rounds} rounds of one {slice_ms} ms slice per contender, order rotating; \
         median ns per iteration and median of the per-round ratios (< 1.00: SACS faster).\n"
    );
    println!("| workload | sacs ns | mimalloc ns | glibc ns | sacs/mimalloc | sacs/glibc |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, kind) in workloads {
        // Warm every contender and size the slice on the slowest one.
        let mut iters = 1u64;
        for c in Contender::ALL {
            run(kind, c, 1, &mut rings);
        }
        loop {
            let slowest = Contender::ALL
                .iter()
                .map(|&c| run(kind, c, iters, &mut rings))
                .max()
                .unwrap_or_default();
            if slowest >= slice / 4 || iters >= 1 << 30 {
                let scale = slice.as_secs_f64() / slowest.as_secs_f64().max(1e-9);
                iters = ((iters as f64 * scale) as u64).max(1);
                break;
            }
            iters *= 4;
        }
        let mut ns: [Vec<f64>; 3] = Default::default();
        let mut vs_mi = Vec::with_capacity(rounds);
        let mut vs_glibc = Vec::with_capacity(rounds);
        for r in 0..rounds {
            let mut t = [0f64; 3];
            for k in 0..3 {
                let i = (r + k) % 3;
                let d = run(kind, Contender::ALL[i], iters, &mut rings);
                t[i] = d.as_nanos() as f64 / iters as f64;
            }
            for i in 0..3 {
                ns[i].push(t[i]);
            }
            vs_mi.push(t[0] / t[1]);
            vs_glibc.push(t[0] / t[2]);
        }
        println!(
            "| {name} | {} | {} | {} | {:.2} | {:.2} |",
            fmt_ns(median(&mut ns[0])),
            fmt_ns(median(&mut ns[1])),
            fmt_ns(median(&mut ns[2])),
            median(&mut vs_mi),
            median(&mut vs_glibc),
        );
    }
}
