#!/usr/bin/env bash
# The one test command: every test of the workspace in debug and in release, the
# allocator's tests again with its invariant checks (feature `validate`), and real programs
# under LD_PRELOAD=libsacs.so (scripts/preload-tests.sh).
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

section "1/4 debug: cargo test --workspace"
cargo test --workspace
step_done "debug"

section "2/4 release: cargo test --workspace --release"
cargo test --workspace --release
step_done "release"

section "3/4 invariant checks: cargo test -p sacs --features validate"
cargo test -p sacs --features validate
step_done "validate"

section "4/4 real programs under LD_PRELOAD: scripts/preload-tests.sh"; scripts/preload-tests.sh; step_done "preload"

section "all tests passed in $((SECONDS - start)) s"
