#!/bin/sh
# Runs field-bench over every workload, single queries and batch 64, RUNS times each, for one
# field size and the budgets given; appends one key=value line per run to OUT.
# usage: field/bench/run.sh SIZE_MIB "BUDGET_MIB..." RUNS QUERIES DIR OUT
# e.g.   field/bench/run.sh 256 "64 0" 3 20000 /work/fb-data field/bench/results-256.txt
set -eu
size=$1 budgets=$2 runs=$3 queries=$4 dir=$5 out=$6
bin=${FIELD_BENCH:-${CARGO_TARGET_DIR:-target}/release/field-bench}
mkdir -p "$dir"
for run in $(seq 1 "$runs"); do
  for budget in $budgets; do
    for workload in camera zipf uniform train; do
      for batch in 1 64; do
        "$bin" --size-mib "$size" --budget-mib "$budget" --workload "$workload" \
          --queries "$queries" --batch "$batch" --dir "$dir" --reuse >> "$out"
      done
    done
  done
done
