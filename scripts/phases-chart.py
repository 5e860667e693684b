#!/usr/bin/python3
"""Draws the resident set after each phase of the workloads that report phases, one panel per
job, one line per contender (medians over the runs), from a `scripts/compare.sh` results.csv.

    scripts/phases-chart.py RESULTS.CSV OUT.PNG [JOB ...]   # default jobs: server fragmentation

The last point of each line is `final_rss_kib` (read after the idle pause), labelled "final";
the phases' own readings come without a pause. Needs matplotlib (python3-matplotlib).
"""
import csv
import statistics
import sys


def medians_by_phase(rows, job, alloc):
    runs = [r for r in rows if r["job"] == job and r["alloc"] == alloc and r["exit"] == "0"]
    if not runs or not runs[0]["phases"]:
        return None, None
    names = runs[0]["phases"].split("/")
    per_run = [[int(v) for v in r["phase_rss_kib"].split("/")] + [int(r["final_rss_kib"])]
               for r in runs]
    meds = [statistics.median(col) / 1024 for col in zip(*per_run)]
    return names + ["final"], meds


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    jobs = sys.argv[3:] or ["server", "fragmentation"]
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    allocs = list(dict.fromkeys(r["alloc"] for r in rows))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(jobs), figsize=(6.5 * len(jobs), 4.6), squeeze=False)
    for ax, job in zip(axes[0], jobs):
        for a in allocs:
            names, meds = medians_by_phase(rows, job, a)
            if names is None:
                continue
            style = "-" if a.startswith("sacs") else "--"
            width = 2.2 if a == "sacs-on" else 1.2
            ax.plot(range(len(meds)), meds, style, marker="o", markersize=3, linewidth=width, label=a)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45 if len(names) > 6 else 0, fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("RSS (MiB), median of runs")
        ax.set_title("%s: RSS after each phase, then after the idle pause" % job, fontsize=10)
        ax.grid(linewidth=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
