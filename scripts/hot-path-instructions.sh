#!/usr/bin/env bash
# Instructions per hot allocation/free pair of SACS, counted by valgrind's callgrind.
#
# Each case runs a loop of N alloc/free pairs of one size, once with N1 and once with N2 pairs, and
# reports (total(N2) - total(N1)) / (N2 - N1): start-up and one-time set-up cancel out, so the
# number is what one more pair costs once the allocator is warm (the loop's own counter, the
# byte written and the pointer sink included). Callgrind counts are deterministic: a change of
# even 1 instruction per pair is real, but an instruction is not a cycle (an atomic or a cache miss
# counts as one).
#   - GlobalAlloc: bench-harness/src/bin/pairs.rs (`pairs sacs N SIZE`), bench profile.
#   - LD_PRELOAD: bench-harness/c/pairs.c (malloc/free, gcc -O2) under LD_PRELOAD=libsacs.so
#     (release profile); this adds the C entry points to the path. Also C++ operator new/delete
#     and calloc/free (PAIRS_API), at 64 B and 4 KiB.
# Sizes 16, 64 and 1024 B are the tiny tier; 4096 and 32768 B the mid tier.
#
#   scripts/hot-path-instructions.sh [--out FILE]     # prints a Markdown table (and writes FILE)
#   N1=200000 N2=400000 scripts/hot-path-instructions.sh   # other loop lengths (default 1M, 2M)
#
# Needs valgrind and gcc; honours CARGO_TARGET_DIR (default target). About 30 s once built
# (28 callgrind runs).
set -euo pipefail
shopt -s inherit_errexit

out_file=""
while [ $# -gt 0 ]; do
    case "$1" in
    --out) [ $# -ge 2 ] || { echo "--out needs a file name" >&2; exit 2; }; out_file="$2"; shift 2 ;;
    *) echo "usage: $0 [--out FILE]" >&2; exit 2 ;;
    esac
done
# --out is taken relative to where the script was started, then the script works from the repo root.
if [ -n "$out_file" ]; then out_file="$(realpath -m -- "$out_file")"; fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n1="${N1:-1000000}"
n2="${N2:-2000000}"
case "$n1$n2" in *[!0-9]*) echo "N1 and N2 must be integers" >&2; exit 2 ;; esac
if ! [ "$n1" -gt 0 ] || ! [ "$n2" -gt "$n1" ]; then echo "need 0 < N1 < N2" >&2; exit 2; fi
for tool in valgrind gcc; do
    command -v "$tool" >/dev/null || { echo "$tool is needed: apt-get install -y $tool" >&2; exit 1; }
done

target_dir="${CARGO_TARGET_DIR:-target}"
cargo build -q --profile bench -p sacs-bench-harness --bin pairs
cargo build -q --release -p sacs-preload
rust_pairs="$target_dir/release/pairs"
lib="$(realpath "$target_dir/release/libsacs.so")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/pairs-c" bench-harness/c/pairs.c -lstdc++

total() { # NAME N PRELOAD COMMAND... -> total instructions (Ir) of COMMAND under callgrind
    local name="$1" n="$2" preload="$3" cg="$tmp/$1-$2.out"
    shift 3
    if ! LD_PRELOAD="$preload" valgrind --tool=callgrind --callgrind-out-file="$cg" "$@" \
        >/dev/null 2>"$tmp/$name-$n.log"; then
        cat "$tmp/$name-$n.log" >&2
        echo "failed under callgrind: $*" >&2
        exit 1
    fi
    if [ -n "$preload" ] && ! grep -q 'libsacs\.so' "$cg"; then
        echo "libsacs.so was not loaded: $*" >&2
        exit 1
    fi
    awk '/^(summary|totals):/ { print $2; exit }' "$cg"
}

per_pair() { # NAME SIZE PRELOAD COMMAND... (N and SIZE are appended) -> instructions per pair
    local name="$1" size="$2" preload="$3" a b
    shift 3
    a="$(total "$name-$size" "$n1" "$preload" "$@" "$n1" "$size")"
    b="$(total "$name-$size" "$n2" "$preload" "$@" "$n2" "$size")"
    if [ -z "$a" ] || [ -z "$b" ]; then echo "no instruction total in callgrind's output" >&2; exit 1; fi
    awk -v a="$a" -v b="$b" -v n="$((n2 - n1))" 'BEGIN { printf "%.2f", (b - a) / n }'
}

table="| entry | size | instructions / pair |
| --- | ---: | ---: |"
for size in 16 64 1024 4096 32768; do
    v="$(per_pair rust "$size" "" "$rust_pairs" sacs)"
    table+=$'\n'"| GlobalAlloc (pairs sacs) | $size | $v |"
done
for size in 16 64 1024 4096 32768; do
    v="$(per_pair preload "$size" "$lib" "$tmp/pairs-c")"
    table+=$'\n'"| LD_PRELOAD malloc/free (pairs.c) | $size | $v |"
done
for api in new calloc; do
    for size in 64 4096; do
        v="$(PAIRS_API=$api per_pair "preload-$api" "$size" "$lib" "$tmp/pairs-c")"
        table+=$'\n'"| LD_PRELOAD $api (pairs.c, PAIRS_API=$api) | $size | $v |"
    done
done
echo "$table"
if [ -n "$out_file" ]; then echo "$table" >"$out_file"; fi
