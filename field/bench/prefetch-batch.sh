#!/usr/bin/env bash
# Batch throughput before / after the gathering `query_batch` (docs/field-prefetch.md):
# alternates the two field-bench binaries, RUNS times per workload, on one reused field file.
# usage: prefetch-batch.sh BEFORE_BIN AFTER_BIN SIZE_MIB BUDGET_MIB RUNS QUERIES DIR OUT
set -euo pipefail
before=$1 after=$2 size=$3 budget=$4 runs=$5 queries=$6 dir=$7 out=$8
mkdir -p "$dir"
: > "$out"
for run in $(seq 1 "$runs"); do
  for workload in camera zipf uniform; do
    for side in before after; do
      bin=$before
      [ "$side" = after ] && bin=$after
      line=$("$bin" --size-mib "$size" --budget-mib "$budget" --workload "$workload" \
        --queries "$queries" --batch 64 --dir "$dir" --reuse)
      echo "side=$side run=$run $line" | tee -a "$out"
    done
  done
done
