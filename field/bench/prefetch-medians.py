#!/usr/bin/env python3
"""Medians per (workload, side) of prefetch-batch.sh's output: queries/s, p50, p99, bytes read,
loads, warm reads, peak RSS. usage: prefetch-medians.py RESULTS..."""
import statistics
import sys

KEYS = ["queries_per_s", "p50_us", "p99_us", "bytes_read", "loads", "warm_reads", "rss_peak_kib"]
rows = {}
for path in sys.argv[1:]:
    for line in open(path):
        d = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        rows.setdefault((d["size_mib"], d["budget_mib"], d["workload"], d["side"]), []).append(d)
print("| size MiB | budget MiB | workload | query_batch | runs | " + " | ".join(KEYS) + " |")
print("| --- " * (5 + len(KEYS)) + "|")
for (size, budget, workload, side), runs in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][3] != "before")):
    cells = []
    for k in KEYS:
        m = statistics.median(float(r[k]) for r in runs)
        cells.append(f"{m:,.1f}" if k.endswith("_us") else f"{m:,.0f}")
    print(f"| {size} | {budget} | {workload} | {side} | {len(runs)} | " + " | ".join(cells) + " |")
