#!/usr/bin/env bash
# A git session for scripts/preload-tests.sh: init, three commits of a few hundred generated
# files (stage1/2/3 under SOURCE), log, diff, gc, fsck, archive. Everything it prints is
# deterministic (fixed identities and dates), so the output is the same with and without
# LD_PRELOAD=libsacs.so.
# usage: git-session.sh REPO_DIR SOURCE_DIR
set -euo pipefail
repo=$1
src=$2

export HOME="$repo.home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="SACS test" GIT_AUTHOR_EMAIL="sacs@example.invalid"
export GIT_COMMITTER_NAME="SACS test" GIT_COMMITTER_EMAIL="sacs@example.invalid"
export LC_ALL=C TZ=UTC
mkdir -p "$HOME"

git init -q "$repo"
cd "$repo"
git config gc.auto 0
git config core.autocrlf false
git config init.defaultBranch main
git symbolic-ref HEAD refs/heads/main

n=0
for stage in stage1 stage2 stage3; do
    n=$((n + 1))
    find . -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
    cp -R "$src/$stage/." .
    git add -A
    export GIT_AUTHOR_DATE="2024-01-0${n}T12:00:00Z" GIT_COMMITTER_DATE="2024-01-0${n}T12:00:00Z"
    git commit -q -m "$stage: generated files"
done

echo "== log"
git log --format='%H %T %s'
echo "== files"
git ls-files | wc -l
echo "== diff"
git diff --stat HEAD~2 HEAD | tail -n 1
git diff HEAD~1 HEAD | sha256sum
echo "== gc"
git gc --quiet
git count-objects -v | grep -E '^(count|in-pack|packs|garbage|size-garbage):'
echo "objects $(git rev-list --all --objects | wc -l)"
echo "== fsck"
git fsck --full --no-progress --strict
echo "fsck ok"
echo "== read back"
git archive --format=tar HEAD | sha256sum
git cat-file -p HEAD~2:d3/f0033.txt | sha256sum
git status --porcelain | wc -l
