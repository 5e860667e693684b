#!/usr/bin/env bash
# The ground truth for tuning SACS: chosen workloads under every candidate value of each knob,
# one knob at a time (set through SACS_* variables, the others at their defaults), and the best
# fixed setting per workload by one score: time / time(default) + W x memory / memory(default),
# W = SACS_LEARN_WEIGHT_PERCENT / 100 (default 1); and the same workloads with the learner on
# (SACS_LEARN=1), scored against the best fixed setting. See scripts/sweep.py for the knobs.
#
#   scripts/sweep.sh                                   # 8 workloads x 6 knobs, 3 repetitions
#   scripts/sweep.sh --workloads batch,big-mix --knobs SACS_HOT_MS,SACS_WARM_MS --reps 5
#   scripts/sweep.sh --weight 0.5                      # memory counts half as much as time
#   scripts/sweep.sh --train 8 --validate 5 --time cpu # then 5 held-out runs of the default,
#                                                      # each best fixed setting and the learned
#                                                      # one; CPU time instead of wall time
#
# Builds libsacs.so and the workloads, then writes bench-results/sweep/<stamp>/ (summary.md,
# results.csv). Exit status 1 if a run fails or a workload's result differs between settings.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "sweep: building SACS and the workloads" >&2
cargo build --release -q -p sacs-preload
cargo build --release -q -p sacs-bench-harness --bin workload
target_dir="${CARGO_TARGET_DIR:-target}"
case $target_dir in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac

out="bench-results/sweep/$(date +%Y%m%d-%H%M%S)"
exec /usr/bin/python3 scripts/sweep.py --workload-bin "$target_dir/release/workload" \
    --sacs-lib "$target_dir/release/libsacs.so" --out "$out" "$@"
