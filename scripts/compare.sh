#!/usr/bin/env bash
# SACS side by side with glibc, mimalloc, jemalloc and tcmalloc: every bench-harness workload and
# a few real programs (python3, sqlite3, a gcc build, redis-server under redis-benchmark) under
# each allocator, alternating them, several repetitions; medians, ratios to mimalloc, geometric
# means, SACS's own statistics per workload, charts.
#
#   scripts/compare.sh                 # full mode: scale 1, 5 repetitions (what docs/benchmarks.md quotes)
#   scripts/compare.sh --quick         # a few minutes: scale 0.1, 1 repetition, small programs
#   scripts/compare.sh --reps 3 --only 'larson|redis' --allocators sacs,mimalloc,glibc
#   scripts/compare.sh --allocators sacs,mimalloc --extra sacs-old=/tmp/libsacs-old.so  # a
#                                      # regression check against an earlier build of SACS
#   scripts/compare.sh --sites --reps 3 --only 'fragmentation|server|python3-lifetimes'
#                                      # Site Rules: sacs-observe and sacs-on (SACS_SITES=observe /
#                                      # on) beside sacs (SACS_SITES=0) and the others; RSS over
#                                      # the phases, and the prediction accuracy per job
#
# Installs what is missing from Debian's packages (the contenders, python3-matplotlib, GNU time,
# the real programs), builds SACS and the workloads, and writes bench-results/compare/<stamp>/:
# results.csv (every run, with GNU time's minor faults, system and user time), summary.md (the
# tables, among them minor faults and system time per job and allocator), time.png and rss.png; the newest summary is
# also copied to bench-results/compare-latest.md. Exit status 1 if any run failed its checks.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

install_missing() {
    local pkgs=() lib=/usr/lib/x86_64-linux-gnu
    [[ -d $lib ]] || lib=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo .)
    [[ -e $lib/libmimalloc.so.2 ]] || pkgs+=(libmimalloc2.0)
    [[ -e $lib/libjemalloc.so.2 ]] || pkgs+=(libjemalloc2)
    [[ -e $lib/libtcmalloc_minimal.so.4 ]] || pkgs+=(libtcmalloc-minimal4)
    /usr/bin/python3 -c 'import matplotlib' 2>/dev/null || pkgs+=(python3-matplotlib)
    [[ -x /usr/bin/time ]] || pkgs+=(time)
    [[ ${#pkgs[@]} -eq 0 ]] && return 0
    echo "compare: installing ${pkgs[*]}" >&2
    # install-deps.sh waits for another apt's lock instead of failing.
    scripts/install-deps.sh "${pkgs[@]}" >/dev/null
}

scripts/install-deps.sh
install_missing

echo "compare: building SACS and the workloads" >&2
# Two commands: a `--bin` filter would apply to both packages and skip libsacs.so.
cargo build --release -q -p sacs-preload
cargo build --release -q -p sacs-bench-harness --bin workload
target_dir="${CARGO_TARGET_DIR:-target}"

out="bench-results/compare/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
status=0
/usr/bin/python3 scripts/compare.py --out "$out" --workload-bin "$target_dir/release/workload" \
    --sacs-lib "$target_dir/release/libsacs.so" --command "scripts/compare.sh $*" "$@" || status=$?
if [[ -f $out/summary.md ]]; then
    cp "$out/summary.md" bench-results/compare-latest.md
    echo "compare: results in $out (summary.md, results.csv, time.png, rss.png)" >&2
fi
exit "$status"
