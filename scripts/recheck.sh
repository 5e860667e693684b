#!/usr/bin/env bash
# Issue 10's bar against noise: the jobs of a full comparison that SACS ran more than 10 %
# behind the best other allocator, run again under SACS and that allocator only, alternated,
# with a bootstrap interval on the ratio and a verdict per job (behind / within / undecided).
# See scripts/recheck.py.
#
#   scripts/recheck.sh                                    # the newest bench-results/compare/<stamp>
#   scripts/recheck.sh --from bench-results/compare/20261204-024300 --reps 15
#   scripts/recheck.sh --only 'pool|phases' --threshold 1.05
#
# Builds SACS and the workloads as compare.sh does (the contenders must be installed: run
# compare.sh first). Writes recheck.csv and recheck.md into the comparison's directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

args=("$@")
has_from=0
for a in "$@"; do [[ $a == --from ]] && has_from=1; done
if [[ $has_from == 0 ]]; then
    newest=$(ls -d bench-results/compare/*/ 2>/dev/null | sort | tail -1)
    [[ -n $newest ]] || { echo "recheck: no comparison in bench-results/compare (run scripts/compare.sh)" >&2; exit 2; }
    args+=(--from "${newest%/}")
fi

cargo build --release -q -p sacs-preload
cargo build --release -q -p sacs-bench-harness --bin workload
target_dir="${CARGO_TARGET_DIR:-target}"
exec /usr/bin/python3 scripts/recheck.py --workload-bin "$target_dir/release/workload" \
    --sacs-lib "$target_dir/release/libsacs.so" "${args[@]}"
