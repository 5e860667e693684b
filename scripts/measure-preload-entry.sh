#!/usr/bin/env bash
# Measures what the preload library's entry points cost on the seed's random-mixed workload
# (bench-harness/c/random_mixed.c, through the C API under LD_PRELOAD):
#   - the return-address capture of `malloc` (default build vs feature `no-site`);
#   - the thread-local heap slot: initial-exec (default) vs std's thread_local! (feature
#     `tls-std`, a __tls_get_addr call per access in a shared library).
# Reports callgrind instructions per operation (repeatable) and the median wall time of
# alternating runs (noisy machine: read the instruction counts first).
#
#   scripts/measure-preload-entry.sh [RUNS]     (default 7 alternating runs of 5M ops)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-7}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

variants=("default:" "no-site:--features no-site" "tls-std:--features tls-std")
for v in "${variants[@]}"; do
    name="${v%%:*}" flags="${v#*:}"
    # shellcheck disable=SC2086
    cargo build -q --release -p sacs-preload $flags
    cp target/release/libsacs.so "$out/libsacs-$name.so"
done
cargo build -q --release -p sacs-preload # leave the default build in place
gcc -O2 -pthread bench-harness/c/random_mixed.c -o "$out/random_mixed"

instructions() { # LIB OPS -> total instructions
    LD_PRELOAD="$1" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$out/random_mixed" "$2" 2>&1 |
        awk '/refs:/ { gsub(",", "", $4); print $4 }'
}

echo "| variant | instructions / op (callgrind) | median ns / op ($runs alternating runs) |"
echo "| --- | ---: | ---: |"
declare -A times
for ((r = 0; r < runs; r++)); do
    for v in "${variants[@]}"; do
        name="${v%%:*}"
        t=$(LD_PRELOAD="$out/libsacs-$name.so" "$out/random_mixed" 5000000 | sed -E 's/.*: ([0-9.]+) ns\/op.*/\1/')
        times[$name]="${times[$name]:-} $t"
    done
done
for v in "${variants[@]}"; do
    name="${v%%:*}"
    lib="$out/libsacs-$name.so"
    a=$(instructions "$lib" 200000)
    b=$(instructions "$lib" 400000)
    per_op=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", (b - a) / 200000 }')
    median=$(echo "${times[$name]}" | tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    echo "| $name | $per_op | $median |"
done
