#!/usr/bin/python3
"""Chart of field-bench results: median queries/s per workload for every variant (field, field
in a cgroup, mmap in the cgroup, ...) and the all-in-RAM runs, one panel per budget (columns)
and batch size (rows), log scale, with the issue's batch bar (10,000 queries/s) drawn in.

usage: field/bench/chart.py RESULTS OUT.png [SIZE_MIB]
e.g.   /usr/bin/python3 field/bench/chart.py field/bench/results-4096.txt docs/img/field-4096.png
(matplotlib: Debian's python3-matplotlib, hence /usr/bin/python3)."""
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from medians import WORKLOADS, load, variant_rank  # noqa: E402

COLOURS = {
    "field": "#1f77b4", "field-cg": "#6baed6", "mmap": "#d62728", "mmap-cg": "#d62728",
    "mmap-random": "#ff9896", "mmap-random-cg": "#ff9896",
    "field, all in RAM": "#2ca02c", "mmap, all in RAM": "#98df8a",
}
BAR = 10_000


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    groups = load([argv[0]])
    sizes = sorted({k[0] for k in groups})
    size = int(argv[2]) if len(argv) > 2 else sizes[-1]
    budgets = sorted({k[1] for k in groups if k[0] == size and k[1] > 0}, reverse=True)
    batches = sorted({k[4] for k in groups if k[0] == size})
    names = sorted({k[2] for k in groups if k[0] == size and k[1] > 0}, key=variant_rank)
    ram = sorted({k[2] for k in groups if k[0] == size and k[1] == 0}, key=variant_rank)
    series = [(n, None) for n in names] + [(f"{n}, all in RAM", n) for n in ram]
    workloads = sorted({k[3] for k in groups if k[0] == size}, key=WORKLOADS.get)

    fig, axes = plt.subplots(len(batches), len(budgets), squeeze=False, sharey=True,
                             figsize=(5.5 * len(budgets), 3.6 * len(batches)))
    width = 0.8 / len(series)
    for row, batch in enumerate(batches):
        for col, budget in enumerate(budgets):
            ax = axes[row][col]
            for i, (label, ram_name) in enumerate(series):
                heights = []
                for w in workloads:
                    key = (size, 0, ram_name, w, batch) if ram_name else \
                        (size, budget, label, w, batch)
                    rows = groups.get(key, [])
                    heights.append(statistics.median(float(r["queries_per_s"]) for r in rows)
                                   if rows else 0)
                xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(workloads))]
                hatch = "//" if label.startswith("mmap") and "-cg" in label else None
                if "+" in label:  # a cgroup limit of budget + slack
                    hatch = ".."
                ax.bar(xs, heights, width, label=label, color=COLOURS.get(label.split("+")[0]),
                       hatch=hatch, edgecolor="black", linewidth=0.3)
            ax.axhline(BAR, color="grey", linestyle="--", linewidth=0.8)
            ax.set_yscale("log")
            ax.set_xticks(range(len(workloads)))
            ax.set_xticklabels(workloads)
            ax.set_title(f"{size / 1024:g} GiB field, {budget} MiB budget "
                         f"({size / budget:g}x), batch {batch}", fontsize=9)
            if col == 0:
                ax.set_ylabel("queries/s (median, log)")
            ax.grid(axis="y", which="major", linewidth=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8,
               frameon=False)
    fig.text(0.99, 0.045, f"dashed: {BAR:,} queries/s (the issue's batch bar)", ha="right",
             fontsize=7, color="grey")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(argv[1], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
