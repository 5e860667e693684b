#!/usr/bin/env bash
# Installs, from Debian's packages, what the tests need and the machine lacks: a C compiler (for
# the mimalloc crate and the C test programs) and the real programs of scripts/preload-tests.sh.
# Does nothing when everything is there; needs root (or sudo) and apt-get otherwise.
#
#   scripts/install-deps.sh            # what the tests need
#   scripts/install-deps.sh PKG...     # and these packages too (scripts/compare.sh's contenders)
set -euo pipefail

missing_pkgs=("$@")
command -v cc >/dev/null 2>&1 || missing_pkgs+=(gcc libc6-dev)
for tool in g++:g++ sqlite3:sqlite3 git:git python3:python3 redis-server:redis-server \
    redis-cli:redis-tools redis-benchmark:redis-tools pkg-config:pkg-config; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing_pkgs+=("${tool#*:}")
done
[[ ${#missing_pkgs[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing_pkgs[*]}" >&2
sudo=
[[ $(id -u) -eq 0 ]] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg (unattended upgrades on a fresh machine, a second install running) may hold
# apt's locks: wait for them, up to 10 minutes, instead of failing at once. DPkg::Lock::Timeout
# makes apt-get wait for dpkg's lock (install); apt 2.6 does not apply it to the package lists'
# lock that `update` takes, so update is retried while that lock is held.
apt=(apt-get -o DPkg::Lock::Timeout=600)
[[ -n $sudo ]] && apt=("$sudo" "${apt[@]}")
for ((waited = 0; ; waited += 5)); do
    if out=$("${apt[@]}" update -q </dev/null 2>&1); then
        printf '%s\n' "$out"
        break
    fi
    if ! grep -q 'Could not get lock' <<<"$out" || ((waited >= 600)); then
        printf '%s\n' "$out" >&2
        exit 1
    fi
    ((waited > 0)) || echo "install-deps: another apt holds the package lists' lock; waiting up to 10 min" >&2
    sleep 5
done
"${apt[@]}" install -y -q "${missing_pkgs[@]}" </dev/null
