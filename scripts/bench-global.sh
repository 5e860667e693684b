#!/usr/bin/env bash
# SACS against mimalloc, jemalloc and the system allocator, each installed as the process's real
# `#[global_allocator]` (what a Rust program that sets it gets), on Vec / String / HashMap /
# BTreeMap workloads and Vec::with_capacity pairs of 16 B .. 1 MiB. Prints the table of medians
# and ratios, also written to bench-results/global-latest.md.
#
#   scripts/bench-global.sh                    # every workload, one round (about 4 minutes on 2 cores)
#   scripts/bench-global.sh global/pair        # a criterion filter (any criterion argument passes through)
#   SACS_BENCH_RUNS=3 scripts/bench-global.sh  # three rounds; the table takes the median of the medians
#
# A process has one global allocator, so each contender is its own bench target
# (bench-harness/benches/global_<contender>.rs; the workloads are in benches/global/body.rs).
# Each round runs them in turn (sacs, mimalloc, jemalloc, system), so slow drifts in the
# machine's load hit every contender alike; criterion's raw output stays in
# bench-results/global/<stamp>/<round>/<contender>/ (that run's CRITERION_HOME).
# Works from a fresh clone: cargo fetches criterion, mimalloc, tikv-jemallocator and serde_json
# and builds mimalloc and jemalloc from source (needs make and a C compiler).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${SACS_BENCH_RUNS:-1}"
case "$runs" in '' | *[!0-9]* | 0) echo "SACS_BENCH_RUNS must be a positive integer" >&2; exit 2 ;; esac

contenders=(sacs mimalloc jemalloc system)
stamp="$(date +%Y%m%d-%H%M%S)"
out_root="bench-results"
run_root="$out_root/global/$stamp"
target_dir="${CARGO_TARGET_DIR:-target}"

bench_args=()
for c in "${contenders[@]}"; do bench_args+=(--bench "global_$c"); done

echo "== building (bench profile)" >&2
cargo build --profile bench -p sacs-bench-harness --bin global_table
table_bin="$target_dir/release/global_table"
# Build the four targets once and run their executables directly: every round then measures the
# same binaries, and `cargo bench` does not rebuild the package's binaries between contenders.
build_log="$(cargo bench -p sacs-bench-harness "${bench_args[@]}" --no-run \
    --message-format=json-render-diagnostics)"
declare -A exe
for c in "${contenders[@]}"; do
    exe[$c]="$(grep -F "\"name\":\"global_$c\"" <<<"$build_log" \
        | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4)"
    [ -x "${exe[$c]}" ] || { echo "no executable for bench target global_$c" >&2; exit 1; }
done

start="$(date +%s)"
dirs=()
loads=()
for r in $(seq 1 "$runs"); do
    dir="$run_root/$r"
    dirs+=("$dir")
    for c in "${contenders[@]}"; do
        mkdir -p "$dir/$c"
        echo "== round $r of $runs: $c -> $dir/$c" >&2
        load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
        CRITERION_HOME="$PWD/$dir/$c" "${exe[$c]}" --bench "$@"
        loads+=("$r/$c: ${load_before} -> $(cut -d' ' -f1-3 /proc/loadavg)")
    done
done
elapsed="$(($(date +%s) - start))"

args_q=""
[ $# -gt 0 ] && args_q="$(printf ' %q' "$@")"
{
    echo "# SACS vs mimalloc vs jemalloc vs system, as \`#[global_allocator]\`"
    echo
    scripts/run-info.sh
    echo "- contenders: sacs (\`sacs::Sacs\`), mimalloc (\`mimalloc::MiMalloc\`), jemalloc (\`tikv_jemallocator::Jemalloc\`), system (\`std::alloc::System\`, glibc)"
    echo "- measuring time: ${elapsed} s for ${runs} round(s) of ${#contenders[@]} contenders (build not included)"
    load_list="$(printf '%s; ' "${loads[@]}")"
    echo "- load average (1/5/15 min) before -> after each run: ${load_list%; }"
    echo "- command: \`SACS_BENCH_RUNS=$runs scripts/bench-global.sh$args_q\`"
    echo "- raw results: ${dirs[*]}"
    echo
    "$table_bin" "${dirs[@]}"
} > "$out_root/global-latest.md"
cat "$out_root/global-latest.md"
