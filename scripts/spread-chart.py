#!/usr/bin/python3
"""Draws every run's time, not only the median, for chosen jobs of a `scripts/compare.sh`
results.csv: one panel per job, one column of dots per contender, its median as a bar. For jobs
whose runs fall into separate modes on these shared cores (larson, producer-consumer), where a
median of a few runs lands on either mode.

    scripts/spread-chart.py RESULTS.CSV OUT.PNG [JOB ...]   # default jobs: larson producer-consumer

Needs matplotlib (python3-matplotlib).
"""
import csv
import statistics
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    jobs = sys.argv[3:] or ["larson", "producer-consumer"]
    with open(src, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["exit"] == "0"]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(jobs), figsize=(5.5 * len(jobs), 4.2), squeeze=False)
    for ax, job in zip(axes[0], jobs):
        allocs = sorted({r["alloc"] for r in rows if r["job"] == job})
        for x, alloc in enumerate(allocs):
            times = sorted(float(r["time_s"]) for r in rows
                           if r["job"] == job and r["alloc"] == alloc)
            ax.scatter([x] * len(times), times, s=18, alpha=0.6)
            med = statistics.median(times)
            ax.hlines(med, x - 0.3, x + 0.3, colors="black", linewidth=1.5)
        ax.set_xticks(range(len(allocs)))
        ax.set_xticklabels(allocs, rotation=30, ha="right")
        ax.set_ylim(bottom=0)
        ax.set_ylabel("seconds (each run; bar: median)")
        runs = len([r for r in rows if r["job"] == job]) // max(len(allocs), 1)
        ax.set_title("%s: %d runs each" % (job, runs))
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
