#!/usr/bin/env bash
# What Site Rules cost in instructions, counted by valgrind's callgrind: for each workload, the
# instructions of `workload NAME --scale 0.1` minus those of `--scale 0.05` (start-up cancels
# out) under LD_PRELOAD=libsacs.so with SACS_SITES=0, observe and on, as a Markdown table with
# the ratios to off. Callgrind counts are deterministic; wall time here cannot resolve 2 %.
#
#   scripts/sites-instructions.sh [WORKLOAD...]     # default: tiny-hot random-mixed larson
#
# Needs valgrind; honours CARGO_TARGET_DIR (default target). A few minutes (larson runs two
# threads under callgrind's serialisation).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install -y valgrind" >&2; exit 1; }
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(tiny-hot random-mixed larson)
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p sacs-preload
cargo build -q --release -p sacs-bench-harness --bin workload
lib="$(realpath "$target_dir/release/libsacs.so")"
bin="$target_dir/release/workload"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

total() { # MODE NAME SCALE -> total instructions (Ir)
    local out="$tmp/$1-$2-$3.cg"
    if ! SACS_SITES="$1" LD_PRELOAD="$lib" valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bin" "$2" --scale "$3" >/dev/null 2>"$tmp/log"; then
        cat "$tmp/log" >&2
        echo "failed under callgrind: $2 (SACS_SITES=$1)" >&2
        exit 1
    fi
    grep -q 'libsacs\.so' "$out" || { echo "libsacs.so was not loaded" >&2; exit 1; }
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

echo "| workload | off | observe | on | observe / off | on / off |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for w in "${workloads[@]}"; do
    declare -A ir=()
    for mode in 0 observe on; do
        ir[$mode]=$(( $(total "$mode" "$w" 0.1) - $(total "$mode" "$w" 0.05) ))
    done
    awk -v w="$w" -v a="${ir[0]}" -v b="${ir[observe]}" -v c="${ir[on]}" \
        'BEGIN { printf "| %s | %d | %d | %d | %.4f | %.4f |\n", w, a, b, c, b / a, c / a }'
done
