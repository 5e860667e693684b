#!/bin/bash
# Issue 13's benchmark at the bar's size: a SIZE_MIB field (4 GiB) under each budget in BUDGETS
# (1 GiB = 4x, 256 MiB = 16x), every workload, single queries and batches, with the engines
#   field     SACS's paged field, no cgroup;
#   field-cg  SACS's paged field inside a cgroup v1 memory group of the budget;
#   mmap-cg   baseline (a): one memmap2 mapping of a plain f32 copy, inside the same cgroup;
#   mmap-random-cg  the same mapping advised MADV_RANDOM (no readahead), in the same cgroup;
#   (also field/mmap/mmap-random without -cg: no cgroup);
# alternating engines within each configuration, RUNS times, the page cache dropped before
# each run; then the all-in-RAM baseline (b) (`--budget-mib 0`, no cgroup) for RAM_ENGINES.
# Appends one key=value line per run to OUT (default field/bench/results-$SIZE_MIB.txt), with
# cgroup_mib (0 = none), cgroup_max_usage_kib (memory.max_usage_in_bytes: page cache and
# anonymous memory charged to the group) and cgroup_failcnt added; a run that fails (e.g. killed
# by the group's OOM killer) is logged to OUT.failures and the script goes on.
#
# The group is /sys/fs/cgroup/memory/field-bench-<pid of this script>: created here, each
# cgroup run's process moved into it (cgroup.procs) before it execs field-bench, its limit
# (memory.limit_in_bytes) set to budget + CGROUP_SLACK_MIB before each run, and removed at the
# end by a trap (also on failure or interrupt). Needs root (cgroup, drop_caches). With a slack,
# the cgroup variants are named e.g. field-cg+64m in the results, so that they do not mix with
# the runs whose limit is the budget itself.
#
# usage: field/bench/run-big.sh [OUT]
# environment (defaults): SIZE_MIB=4096 BUDGETS="1024 256" RUNS=3 QUERIES=2000000
#   MAX_SECONDS=20 WORKLOADS="camera zipf uniform train" BATCHES="1 64"
#   ENGINES="field field-cg mmap-cg mmap-random-cg" RAM_ENGINES="field mmap" CGROUP_SLACK_MIB=0
#   DIR=/work/fb-field-baseline KEEP_FILES=0 (1 keeps the field and f32 files in DIR)
#   HASHING=spatial (local: the locality-aware layout for every engine, bricked: the same with
#                   bricked dense levels; its lines say hashing=)
#   COLD_ENCODING=f32 (int8: the field file's blocks as int8 with a per-block scale, a file of
#                   its own name; the lines say cold_encoding= and bytes_per_load=; the mmap
#                   engines still map an f32 file, the copy of whichever field file is used)
#   FIELD_BENCH=$CARGO_TARGET_DIR/release/field-bench
#   FIELD_ARGS="" (more field-bench arguments for the field engines, e.g. "--look-ahead 8" or
#   "--read-ahead 0"; the lines say read_ahead= and look_ahead=)
#   REST_SECONDS=0 (seconds every run waits after the page cache is dropped and before it
#   starts: this machine's disk reads slower for a minute or so after a run that read several
#   GB, as the mmap engines' runs do, and a rest gives every run the disk in the same state;
#   the lines say rest_s=)
# The f32 copy for the mmap engines is made only when ENGINES or RAM_ENGINES name one.
# e.g. cargo build --release -p sacs-field && field/bench/run-big.sh
set -euo pipefail

size=${SIZE_MIB:-4096}
budgets=${BUDGETS:-1024 256}
runs=${RUNS:-3}
queries=${QUERIES:-2000000}
max_seconds=${MAX_SECONDS:-20}
workloads=${WORKLOADS:-camera zipf uniform train}
batches=${BATCHES:-1 64}
engines=${ENGINES:-field field-cg mmap-cg mmap-random-cg}
ram_engines=${RAM_ENGINES-field mmap}
slack_mib=${CGROUP_SLACK_MIB:-0}
rest=${REST_SECONDS:-0}
dir=${DIR:-/work/fb-field-baseline}
keep=${KEEP_FILES:-0}
bin=${FIELD_BENCH:-${CARGO_TARGET_DIR:-target}/release/field-bench}
out=${1:-field/bench/results-$size.txt}
failures=$out.failures

cgroot=/sys/fs/cgroup/memory
cg=$cgroot/field-bench-$$

[ -x "$bin" ] || { echo "no field-bench at $bin (cargo build --release -p sacs-field)" >&2; exit 2; }
[ -d "$cgroot" ] || { echo "no cgroup v1 memory controller at $cgroot" >&2; exit 2; }

cleanup() {
  if [ -d "$cg" ]; then
    # Every run's process has exited; whatever is left in the group goes back to the root.
    while read -r pid; do echo "$pid" > "$cgroot/cgroup.procs" 2>/dev/null || true; done \
      < "$cg/cgroup.procs"
    rmdir "$cg" || echo "could not remove $cg" >&2
  fi
  if [ "$keep" != 1 ] && [ -n "$field_file" ]; then
    rm -f "$field_file" "${field_file%.field}.f32"
  fi
}
field_file=
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir" "$(dirname "$out")"
mkdir "$cg"

common=(--size-mib "$size" --queries "$queries" --max-seconds "$max_seconds" --dir "$dir" --reuse
  --hashing "${HASHING:-spatial}" --cold-encoding "${COLD_ENCODING:-f32}")

# The files, made outside the group: the field file, then its f32 copy (field-bench prints
# "prepared PATH create_s=... export_s=...").
prep_engine=field
case " $engines $ram_engines " in *" mmap"*) prep_engine=mmap ;; esac
read -r -a field_args <<< "${FIELD_ARGS:-}"
prepared=$("$bin" "${common[@]}" --budget-mib 0 --workload camera --engine "$prep_engine" --prepare-only)
echo "$prepared" >&2
field_file=${prepared#prepared }
field_file=${field_file%% create_s=*}
[ -f "$field_file" ] || { echo "field-bench --prepare-only made no $field_file" >&2; exit 1; }

drop_caches() {
  sync
  echo 1 > /proc/sys/vm/drop_caches
}

# run ENGINE BUDGET_MIB WORKLOAD BATCH: one measured run, its line appended to $out.
run() {
  local engine=$1 budget=$2 workload=$3 batch=$4 kind cgroup_mib=0 line rc=0
  local args=("${common[@]}" --budget-mib "$budget" --workload "$workload" --batch "$batch")
  case $engine in
    field | field-cg) kind=field; args+=("${field_args[@]}") ;;
    mmap | mmap-cg) kind=mmap ;;
    mmap-random | mmap-random-cg) kind=mmap-random ;;
    *) echo "unknown engine $engine" >&2; exit 2 ;;
  esac
  drop_caches
  sleep "$rest"
  if [ "${engine%-cg}" != "$engine" ]; then
    cgroup_mib=$((budget + slack_mib))
    echo $((cgroup_mib << 20)) > "$cg/memory.limit_in_bytes"
    echo 0 > "$cg/memory.max_usage_in_bytes"
    echo 0 > "$cg/memory.failcnt"
    # The shell joins the group, then becomes field-bench (same pid).
    line=$(sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
      "$bin" "${args[@]}" --engine "$kind") || rc=$?
  else
    line=$("$bin" "${args[@]}" --engine "$kind") || rc=$?
  fi
  if [ "$rc" != 0 ] || [ -z "$line" ]; then
    echo "$(date -u +%FT%TZ) engine=$engine budget_mib=$budget workload=$workload batch=$batch rc=$rc" \
      "cgroup_mib=$cgroup_mib failcnt=$(cat "$cg/memory.failcnt")" \
      "oom=$(tr '\n' ' ' < "$cg/memory.oom_control")" | tee -a "$failures" >&2
    return 0
  fi
  local usage_kib=0 failcnt=0
  if [ "$cgroup_mib" != 0 ]; then
    usage_kib=$(($(cat "$cg/memory.max_usage_in_bytes") >> 10))
    failcnt=$(cat "$cg/memory.failcnt")
  fi
  local name=$engine
  if [ "$cgroup_mib" != 0 ] && [ "$slack_mib" != 0 ]; then name=$engine+${slack_mib}m; fi
  echo "$line variant=$name cgroup_mib=$cgroup_mib cgroup_max_usage_kib=$usage_kib" \
    "cgroup_failcnt=$failcnt rest_s=$rest" >> "$out"
  echo "$(date -u +%T) $engine budget=$budget $workload batch=$batch:" \
    "$(echo "$line" | grep -o 'queries_per_s=[0-9]*') $(echo "$line" | grep -o 'p99_us=[0-9.]*')" >&2
}

for r in $(seq 1 "$runs"); do
  for budget in $budgets; do
    for workload in $workloads; do
      for batch in $batches; do
        for engine in $engines; do
          run "$engine" "$budget" "$workload" "$batch"
        done
      done
    done
  done
  for workload in $workloads; do
    for batch in $batches; do
      for engine in $ram_engines; do
        run "$engine" 0 "$workload" "$batch"
      done
    done
  done
done
