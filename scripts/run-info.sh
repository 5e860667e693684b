#!/usr/bin/env bash
# Prints the markdown lines that say when, where and on what SACS a benchmark ran: date,
# machine, rustc, and the commit (marked when allocator/ has uncommitted changes). Used by the
# tables of scripts/bench.sh and scripts/bench-global.sh.
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
echo "- rustc: $(rustc --version)"
if git rev-parse --git-dir >/dev/null 2>&1; then
    echo "- sacs at: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- allocator || echo ' + uncommitted changes in allocator/')"
fi
