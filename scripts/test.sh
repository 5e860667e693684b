#!/usr/bin/env bash
# The one test command: the lints (rustfmt, clippy with warnings as errors, rustdoc with
# warnings as errors), every test of the workspace in debug and in release (the layer order
# of allocator/src/lib.rs is one of them: allocator/tests/layering.rs), the
# allocator's tests again with its invariant checks (feature `validate`), and real programs
# under LD_PRELOAD=libsacs.so (scripts/preload-tests.sh), and the quick mode of the
# side-by-side comparison (scripts/compare.sh --quick), whose every run checks its results, and
# the smallest run of the tuning sweep (scripts/sweep.sh).
# Exits non-zero as soon as any step fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# SACS_* settings in the caller's environment would change what the tests see.
while read -r var; do
    unset "$var"
done < <(compgen -e | grep '^SACS_' || true)

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# What the tests need from Debian's packages (a no-op when it is all there).
scripts/install-deps.sh

start=$SECONDS
section() {
    printf '\n==================== %s ====================\n' "$*"
}
step_done() {
    printf -- '---- %s: ok (%d s so far)\n' "$1" "$((SECONDS - start))"
}

section "1/6 lints: cargo fmt --check, cargo clippy -D warnings, cargo doc -D warnings"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --features sacs/validate -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p sacs --document-private-items
step_done "lints"

section "2/6 debug: cargo test --workspace"
cargo test --workspace
step_done "debug"

section "3/6 release: cargo test --workspace --release"
cargo test --workspace --release
step_done "release"

section "4/6 invariant checks: cargo test -p sacs --features validate"
cargo test -p sacs --features validate
step_done "validate"

section "5/6 real programs under LD_PRELOAD: scripts/preload-tests.sh, then again with SACS_SITES=observe and on"
scripts/preload-tests.sh
scripts/preload-tests.sh --sites observe
scripts/preload-tests.sh --sites on
step_done "preload"

# Every workload and real program under glibc, SACS, mimalloc, jemalloc and tcmalloc, with
# the contents of every run checked: a corrupted block or a changed output fails the test. The
# timings of this quick mode are not what the docs quote (scripts/compare.sh without --quick).
section "6/6 side-by-side comparison, quick mode: scripts/compare.sh --quick"
scripts/compare.sh --quick
# The tuning sweep, at its smallest: it runs, every setting gives the same results.
scripts/sweep.sh --workloads batch,whale-churn --knobs SACS_HOT_MS --reps 1 --scale 0.05
# The recheck of jobs behind, at its smallest: every job of the quick run counts as behind
# (threshold 0), two of them run 3 times each beside their best peer, the verdicts are made.
scripts/recheck.sh --threshold 0 --only '^(tiny-hot|json)$' --reps 3 --scale 0.1 >/dev/null
grep -q '^| tiny-hot |.*| \(behind\|within\|undecided\) |' "$(ls -d bench-results/compare/*/ | sort | tail -1)recheck.md"
step_done "compare"

section "all tests passed in $((SECONDS - start)) s"
