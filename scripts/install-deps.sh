#!/usr/bin/env bash
# Installs, from Debian's packages, what the tests need and the machine lacks: a C compiler (for
# the mimalloc crate and the C test programs) and the real programs of scripts/preload-tests.sh.
# Does nothing when everything is there; needs root (or sudo) and apt-get otherwise.
set -euo pipefail

missing_pkgs=()
command -v cc >/dev/null 2>&1 || missing_pkgs+=(gcc libc6-dev)
for tool in g++:g++ sqlite3:sqlite3 git:git python3:python3 redis-server:redis-server \
    redis-cli:redis-tools redis-benchmark:redis-tools; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing_pkgs+=("${tool#*:}")
done
[[ ${#missing_pkgs[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing_pkgs[*]}" >&2
sudo=
[[ $(id -u) -eq 0 ]] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q </dev/null
# shellcheck disable=SC2068
$sudo apt-get install -y -q ${missing_pkgs[@]} </dev/null
