#!/usr/bin/env bash
# How low can placement by site take a workload's resident set? An oracle for Site Rules
# (issue 9): a copy of SACS whose placement table sends the long-lived sites' blocks to
# long-lived pages from the first allocation, as if their rules had been learned before the
# program started. What it ends at is the floor that learning could reach on that workload; the
# gap between it and `SACS_SITES=on` is what learning costs, and the gap between it and
# `SACS_SITES=0` all that placement by site can give.
#
#   scripts/sites-oracle.sh [--reps N] WORKLOAD...     # e.g. fragmentation server
#
# For each workload: a profile run (`SACS_PROFILE=1`) names its sites; those whose lifetime is
# not `short` are the oracle's (their placement entry is the low byte of the site's address,
# which is the low byte of its offset in the module: modules are mapped at page boundaries).
# Then N runs each of SACS off, on, and the oracle with on, alternating; it prints each run's
# peak and final resident set (KiB). The oracle is built from the current commit in a temporary
# worktree with a two-line change to `site::placement` (below), never from the working tree.
# Needs git and cargo; about 1 minute for two workloads at --reps 3.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/.."

reps=3
while [[ $# -gt 0 && $1 == --* ]]; do
    case "$1" in
    --reps) reps="$2"; shift 2 ;;
    *) echo "usage: $0 [--reps N] WORKLOAD..." >&2; exit 2 ;;
    esac
done
[[ $# -gt 0 ]] || { echo "usage: $0 [--reps N] WORKLOAD..." >&2; exit 2; }

target="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p sacs-preload -p sacs-bench-harness
lib="$(realpath "$target/release/libsacs.so")"
workload="$(realpath "$target/release/workload")"
tmp="$(mktemp -d)"
tree="$tmp/tree"
cleanup() {
    git worktree remove --force "$tree" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
git worktree add -q --detach "$tree" HEAD

# The oracle's change: every copy of the placement table (a heap's, refreshed at its first miss
# since the generation reads one ahead) also has the entries of ORACLE_BYTES long-lived.
python3 - "$tree/allocator/src/site/mod.rs" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
a = "    PLACEMENT_GEN.load(Relaxed)\n}"
b = """    for (dst, src) in to.iter_mut().zip(&PLACEMENT) {
        *dst = src.load(Relaxed);
    }
    gen"""
assert a in s and b in s, "site::placement changed: update scripts/sites-oracle.sh"
s = s.replace(a, "    PLACEMENT_GEN.load(Relaxed).wrapping_add(1)\n}")
s = s.replace(b, b[:-len("    gen")] + """    for byte in option_env!("ORACLE_BYTES").unwrap_or("").split(',').filter(|b| !b.is_empty()) {
        to[usize::from_str_radix(byte, 16).expect("hex byte") & (PLACE_ENTRIES - 1)] = SMALL_CLASSES;
    }
    gen.wrapping_add(1)""")
open(p, "w").write(s)
PY

field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

for w in "$@"; do
    bytes=$(SACS_PROFILE=1 LD_PRELOAD="$lib" "$workload" "$w" 2>&1 >/dev/null |
        sed -n '/top sites by allocated bytes/,/top sites by fragmentation/p' |
        awk '{ for (i = 1; i < NF - 1; i++) if ($i ~ /^(short|long|mixed)$/ && $(i + 2) ~ /\+0x/) {
                   if ($i != "short") { s = $(i + 2); sub(/.*\+0x/, "", s); print substr(s, length(s) - 1) }
                   break } }' |
        sort -u | paste -sd, -)
    [[ -n $bytes ]] || { echo "$w: the profile shows no site that is not short-lived" >&2; exit 1; }
    (cd "$tree" && ORACLE_BYTES="$bytes" CARGO_TARGET_DIR="$tmp/target" cargo build -q --release -p sacs-preload)
    oracle="$tmp/libsacs-oracle-$w.so"
    cp "$tmp/target/release/libsacs.so" "$oracle"
    echo "$w: oracle places the sites of placement entries $bytes long-lived from the start"
    printf '%-8s %-4s %12s %12s\n' mode rep peak_kib final_kib
    for ((r = 1; r <= reps; r++)); do
        for mode in off on oracle; do
            case $mode in
            off) out=$(SACS_SITES=0 LD_PRELOAD="$lib" "$workload" "$w") ;;
            on) out=$(SACS_SITES=on LD_PRELOAD="$lib" "$workload" "$w") ;;
            oracle) out=$(SACS_SITES=on LD_PRELOAD="$oracle" "$workload" "$w") ;;
            esac
            printf '%-8s %-4s %12s %12s\n' "$mode" "$r" "$(field peak_rss_kib <<<"$out")" "$(field final_rss_kib <<<"$out")"
        done
    done
done
