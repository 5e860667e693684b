#!/usr/bin/env python3
"""Medians of field-bench lines (key=value), grouped by size, budget, variant (engine, and
whether it ran in a memory cgroup: field, field-cg, mmap-cg, ...), workload and batch, printed as
Markdown tables.

usage: field/bench/medians.py [--compare] RESULTS...
  (default)  one row per group: latency percentiles, throughput, memory, bytes read;
  --compare  per size and budget, queries/s of every variant side by side, with the all-in-RAM
             runs (budget 0) of the same size, and field's ratio to each mmap variant.

Lines written before the mmap engine existed (no engine= key) count as variant "field"; a
hashing other than spatial and an int8 cold encoding are named after the variant, e.g.
"field (local, int8)"."""
import statistics
import sys

KEYS = ["p50_us", "p99_us", "p999_us", "queries_per_s", "queries", "rss_peak_kib",
        "cgroup_max_usage_kib", "bytes_read", "major_faults", "loads", "warm_reads",
        "utilisation"]
WORKLOADS = {"camera": 0, "zipf": 1, "uniform": 2, "train": 3}
VARIANTS = ["field", "field-cg", "mmap", "mmap-cg", "mmap-random", "mmap-random-cg"]


def variant(v):
    name = v.get("variant") or v.get("engine", "field")
    hashing = v.get("hashing", "spatial")
    # Lines before session 20 have no cold_encoding= (f32); int8 runs are a variant of their own.
    notes = [n for n in (hashing if hashing != "spatial" else None,
                         "int8" if v.get("cold_encoding") == "int8" else None) if n]
    return f"{name} ({', '.join(notes)})" if notes else name


def load(paths):
    groups = {}
    for path in paths:
        for line in open(path):
            if "=" not in line:
                continue
            v = dict(pair.split("=", 1) for pair in line.split())
            key = (int(v["size_mib"]), int(v["budget_mib"]), variant(v), v["workload"],
                   int(v["batch"]))
            groups.setdefault(key, []).append(v)
    return groups


def median(rows, k):
    values = [float(r[k]) for r in rows if k in r]
    return statistics.median(values) if values else None


def cell(k, m):
    if m is None:
        return "-"
    if k == "utilisation":
        return f"{m:.4f}"
    if k.endswith("_us"):
        return f"{m:,.1f}"
    return f"{m:,.0f}"


def variant_rank(name):
    base = name.split("+")[0]
    return VARIANTS.index(base) + 0.5 * (base != name) if base in VARIANTS else len(VARIANTS)


def full(groups):
    print("| size MiB | budget MiB | variant | workload | batch | runs | " + " | ".join(KEYS) + " |")
    print("|" + " --- |" * (6 + len(KEYS)))
    for key in sorted(groups, key=lambda k: (k[0], -k[1] if k[1] else -1e9, WORKLOADS[k[3]],
                                             k[4], variant_rank(k[2]))):
        rows = groups[key]
        cells = [cell(k, median(rows, k)) for k in KEYS]
        budget = key[1] if key[1] else "0 (all in RAM)"
        print(f"| {key[0]} | {budget} | {key[2]} | {key[3]} | {key[4]} | {len(rows)} | "
              + " | ".join(cells) + " |")


def compare(groups):
    sizes = sorted({k[0] for k in groups})
    for size in sizes:
        budgets = sorted({k[1] for k in groups if k[0] == size and k[1] > 0}, reverse=True)
        for budget in budgets:
            names = sorted({k[2] for k in groups if k[0] == size and k[1] == budget},
                           key=variant_rank)
            ram = sorted({k[2] for k in groups if k[0] == size and k[1] == 0}, key=variant_rank)
            mmaps = [n for n in names if n.startswith("mmap")]
            print(f"\n{size} MiB field, {budget} MiB budget ({size / budget:g}x): "
                  "median queries/s (runs)\n")
            head = names + [f"{n}, all in RAM" for n in ram] + \
                [f"field / {m}" for m in mmaps if "field" in names]
            print("| workload | batch | " + " | ".join(head) + " |")
            print("|" + " --- |" * (2 + len(head)))
            combos = sorted({(k[3], k[4]) for k in groups if k[0] == size and k[1] == budget},
                            key=lambda c: (WORKLOADS[c[0]], c[1]))
            for workload, batch in combos:
                cells = []
                for n, b in [(n, budget) for n in names] + [(n, 0) for n in ram]:
                    rows = groups.get((size, b, n, workload, batch), [])
                    m = median(rows, "queries_per_s") if rows else None
                    cells.append(f"{m:,.0f} ({len(rows)})" if m is not None else "-")
                field = median(groups.get((size, budget, "field", workload, batch), []),
                               "queries_per_s") if "field" in names else None
                for m in mmaps:
                    if field is None:
                        continue
                    base = median(groups.get((size, budget, m, workload, batch), []),
                                  "queries_per_s")
                    cells.append(f"{field / base:.2f}x" if base else "-")
                print(f"| {workload} | {batch} | " + " | ".join(cells) + " |")


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    if argv[0] == "--compare":
        compare(load(argv[1:]))
    else:
        full(load(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
