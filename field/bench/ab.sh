#!/bin/bash
# Before/after comparison on a shared machine: ROUNDS rounds, each running run-big.sh once
# (RUNS=1) with every binary of BINS in turn, so that the machine's drift hits every build
# alike. Each build's lines go to ${PREFIX}-<name>.txt, where <name> is the binary's file name
# without the "field-bench-" prefix. Every other setting (HASHING, BUDGETS, WORKLOADS,
# BATCHES, ENGINES, DIR, KEEP_FILES, MAX_SECONDS, ...) is passed through to run-big.sh; set
# KEEP_FILES=1 so that the 4 GiB files are made once.
#
# usage: BINS="/path/field-bench-before /path/field-bench-after" [ROUNDS=3] \
#          field/bench/ab.sh PREFIX
# e.g. (session 10's train comparison)
#   BINS="/work/fb-field10/field-bench-before /work/fb-field10/field-bench-after" \
#   HASHING=local MAX_SECONDS=10 BUDGETS=1024 WORKLOADS=train BATCHES="1 64" ENGINES=field \
#   RAM_ENGINES="" DIR=/work/fb-field10 KEEP_FILES=1 field/bench/ab.sh field/bench/results-4096-train
set -euo pipefail

prefix=${1:?usage: BINS="bin1 bin2" field/bench/ab.sh PREFIX}
bins=${BINS:?BINS names the field-bench binaries to alternate}
rounds=${ROUNDS:-3}
here=$(dirname "$0")

for round in $(seq 1 "$rounds"); do
  for bin in $bins; do
    name=$(basename "$bin")
    name=${name#field-bench-}
    echo "round $round $name $(date -u +%T) load $(cat /proc/loadavg)" >&2
    RUNS=1 FIELD_BENCH=$bin "$here/run-big.sh" "$prefix-$name.txt"
  done
done
