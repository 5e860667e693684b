#!/usr/bin/env python3
"""Medians of field-bench lines (key=value), grouped by size, budget, workload and batch,
printed as a Markdown table. usage: field/bench/medians.py RESULTS..."""
import statistics
import sys

KEYS = ["p50_us", "p99_us", "p999_us", "queries_per_s", "rss_peak_kib", "rss_end_kib",
        "bytes_read", "loads", "warm_reads", "utilisation"]
groups = {}
for path in sys.argv[1:]:
    for line in open(path):
        v = dict(pair.split("=", 1) for pair in line.split())
        key = (int(v["size_mib"]), int(v["budget_mib"]), v["workload"], int(v["batch"]))
        groups.setdefault(key, []).append(v)
order = {"camera": 0, "zipf": 1, "uniform": 2, "train": 3}
print("| size MiB | budget MiB | workload | batch | runs | " + " | ".join(KEYS) + " |")
print("|" + " --- |" * (5 + len(KEYS)))
for key in sorted(groups, key=lambda k: (k[0], -k[1] if k[1] else -1e9, order[k[2]], k[3])):
    rows = groups[key]
    cells = []
    for k in KEYS:
        m = statistics.median(float(r[k]) for r in rows)
        cells.append(f"{m:.4f}" if k == "utilisation" else
                     f"{m:,.1f}" if k.endswith("_us") else f"{m:,.0f}")
    budget = key[1] if key[1] else "0 (all in RAM)"
    print(f"| {key[0]} | {budget} | {key[2]} | {key[3]} | {len(rows)} | " + " | ".join(cells) + " |")
