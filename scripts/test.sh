#!/usr/bin/env bash
# The one test command: every test of the workspace in debug and in release, the
# allocator's tests again with its invariant checks (feature `validate`), and real programs
# under LD_PRELOAD=libsacs.so (scripts/preload-tests.sh), and the quick mode of the
# side-by-side comparison (scripts/compare.sh --quick), whose every run checks its results.
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

section "1/5 debug: cargo test --workspace"
cargo test --workspace
step_done "debug"

section "2/5 release: cargo test --workspace --release"
cargo test --workspace --release
step_done "release"

section "3/5 invariant checks: cargo test -p sacs --features validate"
cargo test -p sacs --features validate
step_done "validate"

section "4/5 real programs under LD_PRELOAD: scripts/preload-tests.sh"; scripts/preload-tests.sh; step_done "preload"

# Every workload and real program under glibc, SACS, mimalloc, jemalloc and tcmalloc, with
# the contents of every run checked: a corrupted block or a changed output fails the test. The
# timings of this quick mode are not what the docs quote (scripts/compare.sh without --quick).
section "5/5 side-by-side comparison, quick mode: scripts/compare.sh --quick"
scripts/compare.sh --quick
step_done "compare"

section "all tests passed in $((SECONDS - start)) s"
