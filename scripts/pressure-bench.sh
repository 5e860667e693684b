#!/usr/bin/env bash
# The memory-pressure response, measured: workloads run in a memory cgroup (v1) of their own
# whose limit lies below the peak resident set they reach unconstrained, so that memory SACS
# keeps cached, not the live blocks, decides whether they fit. Each runs with the response off
# (SACS_PRESSURE_PERCENT=0) and on (the default, 90), with learning off and on, alternating,
# REPS times. Per run: the exit status (137: killed by the kernel's OOM killer), the workload's
# time, the cgroup's peak usage (memory.max_usage_in_bytes) and how often it hit the limit
# (memory.failcnt). Needs root and /sys/fs/cgroup/memory; makes and removes its own cgroups.
#
#   scripts/pressure-bench.sh                       # whale-churn, big-mix, server; limit 0.8 x peak
#   WORKLOADS="whale-churn" FRACTION=0.7 REPS=5 scripts/pressure-bench.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROOT=/sys/fs/cgroup/memory
[ -w "$ROOT" ] || { echo "pressure-bench: needs root and the cgroup v1 memory controller at $ROOT" >&2; exit 2; }
WORKLOADS=${WORKLOADS:-whale-churn big-mix server}
FRACTION=${FRACTION:-0.8}
REPS=${REPS:-3}

cargo build --release -q -p sacs-preload
cargo build --release -q -p sacs-bench-harness --bin workload
target_dir="${CARGO_TARGET_DIR:-target}"
case $target_dir in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
LIB="$target_dir/release/libsacs.so"
BIN="$target_dir/release/workload"

GROUP="$ROOT/sacs-pressure-bench-$$"
cleanup() { [ -d "$GROUP" ] && rmdir "$GROUP" 2>/dev/null || true; }
trap cleanup EXIT

field() { { grep -o "$1=[0-9.]*" <<<"$2" || true; } | head -1 | cut -d= -f2; }

printf '| workload | limit (MiB) | pressure response | learning | exit | time (s) | cgroup peak (MiB) | hit the limit |\n'
printf '| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |\n'
for w in $WORKLOADS; do
    # The unconstrained peak, with the response off (nothing to respond to without a limit).
    out=$(env SACS_PRESSURE_PERCENT=0 LD_PRELOAD="$LIB" "$BIN" "$w")
    peak_kib=$(field peak_rss_kib "$out")
    limit=$(python3 -c "print(int($peak_kib * 1024 * $FRACTION))")
    for rep in $(seq 1 "$REPS"); do
        for setting in "0 0" "90 0" "0 1" "90 1"; do
            read -r percent learn <<<"$setting"
            mkdir "$GROUP"
            echo "$limit" >"$GROUP/memory.limit_in_bytes"
            rc=0
            out=$(sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$GROUP" \
                env SACS_PRESSURE_PERCENT="$percent" SACS_LEARN="$learn" LD_PRELOAD="$LIB" "$BIN" "$w" 2>/dev/null) || rc=$?
            usage=$(cat "$GROUP/memory.max_usage_in_bytes")
            fails=$(cat "$GROUP/memory.failcnt")
            rmdir "$GROUP" 2>/dev/null || { sleep 0.5; rmdir "$GROUP"; }
            t=$(field elapsed_s "$out")
            printf '| %s | %d | %s | %s | %d | %s | %.1f | %d |\n' "$w" $((limit >> 20)) \
                "$([ "$percent" = 0 ] && echo off || echo "on ($percent %)")" \
                "$([ "$learn" = 0 ] && echo off || echo on)" "$rc" "${t:--}" \
                "$(python3 -c "print($usage / 1048576)")" "$fails"
        done
    done
done
