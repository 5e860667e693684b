#!/usr/bin/env bash
# SACS's main job: benchmark it against mimalloc and glibc, side by side in one run, and print
# the table of medians and ratios (also written to bench-results/latest.md).
#
#   scripts/bench.sh                    # every workload, one run (about 4 minutes on 2 cores)
#   scripts/bench.sh pair_64B           # a criterion filter (any criterion argument passes through)
#   SACS_BENCH_RUNS=3 scripts/bench.sh  # three runs; the table takes the median of the medians
#   scripts/bench.sh --callgrind [SIZE]  # instructions per malloc/free pair (default 64 B) under
#                                        # valgrind's callgrind, for sacs, mimalloc and glibc
#   scripts/bench.sh --interleaved [ROUNDS] [SLICE_MS]  # cross-check: contenders take turns in
#                                        # short slices; ratios per round (robust to noisy neighbours)
#
# Each run keeps criterion's raw output in bench-results/runs/<stamp>-<n>/ (CRITERION_HOME).
# Works from a fresh clone: cargo fetches criterion, mimalloc and serde_json itself.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${SACS_BENCH_RUNS:-1}"
case "$runs" in '' | *[!0-9]* | 0) echo "SACS_BENCH_RUNS must be a positive integer" >&2; exit 2 ;; esac

stamp="$(date +%Y%m%d-%H%M%S)"
out_root="bench-results"
mkdir -p "$out_root/runs"
target_dir="${CARGO_TARGET_DIR:-target}"

if [ "${1:-}" = "--interleaved" ]; then
    shift
    cargo build --profile bench -p sacs-bench-harness --bin interleaved
    "$target_dir/release/interleaved" "$@" | tee "$out_root/interleaved-latest.md"
    exit 0
fi

if [ "${1:-}" = "--callgrind" ]; then
    # Instructions per pair: total instructions of N2 pairs minus those of N1 pairs, over N2 - N1,
    # so start-up and the allocator's one-time set-up cancel out.
    size="${2:-64}"
    n1=1000000
    n2=2000000
    command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
    cargo build --profile bench -p sacs-bench-harness --bin pairs
    dir="$out_root/callgrind/$stamp"
    mkdir -p "$dir"
    total() { # allocator N -> total instructions (Ir)
        valgrind --tool=callgrind --callgrind-out-file="$dir/$1-$2.out" \
            "$target_dir/release/pairs" "$1" "$2" "$size" >/dev/null 2>"$dir/$1-$2.log"
        awk '/^(summary|totals):/ { print $2; exit }' "$dir/$1-$2.out"
    }
    {
        echo "Instructions per malloc/free pair of $size B (callgrind; ($n2 - $n1) pairs' difference):"
        echo
        echo "| allocator | instructions / pair |"
        echo "| --- | ---: |"
        for a in sacs mimalloc system; do
            t1="$(total "$a" "$n1")"
            t2="$(total "$a" "$n2")"
            echo "| $a | $(awk -v a="$t1" -v b="$t2" -v n="$((n2 - n1))" 'BEGIN { printf "%.1f", (b - a) / n }') |"
        done
    } | tee "$out_root/callgrind-latest.md"
    exit 0
fi

echo "== building (bench profile)" >&2
cargo bench -p sacs-bench-harness --bench compare --no-run
cargo build --profile bench -p sacs-bench-harness --bin bench_table
table_bin="$target_dir/release/bench_table"

dirs=()
loads=()
for i in $(seq 1 "$runs"); do
    dir="$out_root/runs/$stamp-$i"
    mkdir -p "$dir"
    echo "== run $i of $runs -> $dir" >&2
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    CRITERION_HOME="$PWD/$dir" cargo bench -p sacs-bench-harness --bench compare -- "$@"
    loads+=("run $i: ${load_before} -> $(cut -d' ' -f1-3 /proc/loadavg)")
    dirs+=("$dir")
done

args_q=""
[ $# -gt 0 ] && args_q="$(printf ' %q' "$@")"
{
    echo "# SACS vs mimalloc vs glibc"
    echo
    scripts/run-info.sh
    loads_text=$(IFS=';'; echo "${loads[*]}")
    echo "- load average (1/5/15 min) before -> after: ${loads_text//;/; }"
    echo "- command: \`SACS_BENCH_RUNS=$runs scripts/bench.sh$args_q\`"
    echo "- raw results: ${dirs[*]}"
    echo
    "$table_bin" "${dirs[@]}"
} > "$out_root/latest.md"
cat "$out_root/latest.md"
