#!/usr/bin/python3
"""The ground truth for tuning SACS: chosen workloads under every candidate value of each knob
(one knob at a time, the others at their defaults, set through SACS_* variables), and the best
fixed setting per workload by one score. Run through scripts/sweep.sh, which builds first.

Score of a setting on a workload, lower is better (the defaults score 1 + W):

    score = time / time_default + W * memory / memory_default

time: the workload's own elapsed_s (or with --time cpu the process's user + system CPU time,
which other processes on the machine disturb less); memory: its time-weighted mean resident set when it traces
one (mean_rss_kib), else its peak (peak_rss_kib); both medians over the repetitions. W is
SACS_LEARN_WEIGHT_PERCENT / 100 (default 1): how much a unit of memory weighs against a unit of
time, the weight the learner uses too. Every fixed setting runs with SACS_LEARN=0; the setting
"learned" runs with SACS_LEARN=1 and no knob set, so the learner (allocator/src/learn.rs) is
judged against the best fixed setting, which a person could reach by hand.

Writes bench-results/sweep/<stamp>/results.csv (every run) and summary.md."""

import argparse
import csv
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Each knob: the variable and its candidate values, the default among them. The ladders of the
# big cache's delays and of W_MAX are the design notes' (Hot 50/100/200 ms, Warm 600/900/1200 ms,
# W_MAX 1.25/1.5/1.75), with SACS's defaults added where they are not on them.
KNOBS = {
    "SACS_WHALE_WASTE_PERCENT": [25, 50, 75],
    "SACS_HOT_MS": [50, 100, 200],
    "SACS_WARM_MS": [200, 600, 900, 1200],
    "SACS_PURGE_DELAY_MS": [0, 10, 50],
    "SACS_PREFILL_PAGES": [1, 4, 8],
    "SACS_WARM_POOL_PAGES": [4, 8, 16],
    "SACS_THREAD_BIG_CACHE_MIB": [0, 4, 16],
}
DEFAULT_WORKLOADS = ["big-mix", "batch", "whale-churn", "fragmentation", "server", "json",
                     "thread-rounds", "random-mixed"]


def defaults():
    """The options' defaults, from the options table's documentation (docs/configuration.md)."""
    out = {}
    with open(os.path.join(ROOT, "docs/configuration.md")) as f:
        for line in f:
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and cells[0] in KNOBS and cells[1].isdigit():
                out[cells[0]] = int(cells[1])
    missing = [k for k in KNOBS if k not in out]
    if missing:
        sys.exit("sweep: no default in docs/configuration.md for %s" % ", ".join(missing))
    return out


def run(binary, lib, workload, scale, env_extra, stats_dir):
    """Runs one workload; returns its time, memory, checksum and, with learning on, what the
    learner reported at exit (the "learn" object of SACS's JSON statistics)."""
    # The caller's SACS_* settings would change what is measured.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SACS_")}
    env.update({k: str(v) for k, v in env_extra.items()})
    env["LD_PRELOAD"] = lib
    stats_file = None
    if env_extra.get("SACS_LEARN") == 1:
        stats_file = os.path.join(stats_dir, "learn.%d.json" % os.getpid())
        if os.path.exists(stats_file):
            os.remove(stats_file)
        env.update({"SACS_STATS": "json", "SACS_STATS_FILE": stats_file})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([binary, workload, "--scale", str(scale)], env=env,
                       capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode != 0:
        raise RuntimeError("%s %s failed (%d): %s" % (workload, env_extra, p.returncode,
                                                     p.stderr.strip()[-300:]))
    fields = dict(kv.split("=", 1) for kv in p.stdout.split() if "=" in kv)
    memory = int(fields.get("mean_rss_kib") or fields["peak_rss_kib"])
    learn = None
    if stats_file:
        with open(stats_file) as f:
            learn = json.loads(f.readline())["learn"]
        os.remove(stats_file)
    return float(fields["elapsed_s"]), cpu, memory, fields["checksum"], learn


def learned_summary(learn):
    """One cell: the learner's windows and final choices, e.g. "42 w (frozen 10, re-opened 0,
    recalled 0): PURGE_DELAY_MS=50 frozen, WARM_MS=600 learning, ...", idle and waiting knobs
    left out."""
    knobs = ", ".join("%s=%d %s" % (name.replace("SACS_", ""), k["value"], k["state"])
                      for name, k in learn["knobs"].items()
                      if k["state"] in ("learning", "frozen"))
    return "%d w (frozen %d, re-opened %d, recalled %d): %s" % (
        learn["windows"], learn["frozen_windows"], learn["reopened"], learn["recalled"],
        knobs or "no knob played")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                    help="comma-separated workload names (default: %(default)s)")
    ap.add_argument("--knobs", default=",".join(KNOBS),
                    help="comma-separated SACS_* knobs to sweep (default: all)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--weight", type=float,
                    default=float(os.environ.get("SACS_LEARN_WEIGHT_PERCENT", "100")) / 100,
                    help="W: memory against time (default SACS_LEARN_WEIGHT_PERCENT / 100, or 1)")
    ap.add_argument("--no-learned", action="store_true",
                    help="leave out the run with learning on")
    ap.add_argument("--train", type=int, default=0,
                    help="runs of each workload with learning on before the measured ones, "
                         "learning kept across runs in a SACS_LEARN_FILE of the workload's own "
                         "(default 0: the learner starts from nothing in the first repetition, "
                         "and each later repetition resumes from the file)")
    ap.add_argument("--time", choices=["wall", "cpu"], default="wall",
                    help="the time a score counts: the workload's own elapsed_s (wall, the "
                         "default), or the process's user + system CPU time (cpu: what the "
                         "allocator costs, less disturbed by other processes on the machine)")
    ap.add_argument("--validate", type=int, default=0,
                    help="after the sweep, this many more repetitions of the default, each "
                         "workload's best fixed setting and the learned one only, alternated, "
                         "scored on their own (held-out runs: the best of many noisy settings "
                         "is biased low on the runs that chose it)")
    ap.add_argument("--workload-bin", required=True)
    ap.add_argument("--sacs-lib", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    base = defaults()
    knobs = [k for k in args.knobs.split(",") if k]
    unknown = [k for k in knobs if k not in KNOBS]
    if unknown:
        sys.exit("sweep: unknown knob %s (known: %s)" % (", ".join(unknown), ", ".join(KNOBS)))
    workloads = [w for w in args.workloads.split(",") if w]
    # Settings: the defaults once, then each other candidate of each knob.
    settings = [("default", {"SACS_LEARN": 0})]
    for k in knobs:
        for v in KNOBS[k]:
            if v != base[k]:
                settings.append(("%s=%d" % (k, v), {k: v, "SACS_LEARN": 0}))
    if not args.no_learned:
        settings.append(("learned", {"SACS_LEARN": 1, "SACS_LEARN_WEIGHT_PERCENT": round(100 * args.weight)}))
    os.makedirs(args.out, exist_ok=True)

    def with_file(w, extra):
        """The learned setting keeps what it learns in a file per workload (SACS_LEARN_FILE)."""
        if extra.get("SACS_LEARN") == 1:
            return dict(extra, SACS_LEARN_FILE=os.path.join(os.path.abspath(args.out), "learn-%s.txt" % w))
        return extra

    if not args.no_learned:
        for w in workloads:
            for i in range(args.train):
                run(args.workload_bin, args.sacs_lib, w, args.scale,
                    with_file(w, dict(settings)["learned"]), args.out)
                print("[train %d/%d] %s" % (i + 1, args.train, w), file=sys.stderr)
    rows = []
    total = len(workloads) * len(settings) * args.reps
    n = 0
    for rep in range(args.reps):
        for w in workloads:
            # The order rotates every repetition, so no setting always runs first.
            order = settings[rep % len(settings):] + settings[:rep % len(settings)]
            for name, extra in order:
                n += 1
                wall, cpu, m, checksum, learn = run(args.workload_bin, args.sacs_lib, w,
                                                    args.scale, with_file(w, extra), args.out)
                t = cpu if args.time == "cpu" else wall
                rows.append({"stage": "sweep", "workload": w, "setting": name, "rep": rep,
                             "time_s": t, "wall_s": wall, "cpu_s": cpu,
                             "memory_kib": m, "checksum": checksum,
                             "learned": learned_summary(learn) if learn else ""})
                print("[%d/%d] %-14s %-32s %.4f s %7.1f MiB" % (n, total, w, name, t, m / 1024),
                      file=sys.stderr)
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)

    bad = {(r["workload"]) for r in rows
           if r["checksum"] != next(x["checksum"] for x in rows if x["workload"] == r["workload"])}
    if bad:
        sys.exit("sweep: results differ between settings on %s" % ", ".join(sorted(bad)))

    W = args.weight
    med = medians(rows, workloads, [name for name, _ in settings])

    def score(w, name):
        t0, m0 = med[(w, "default")]
        t, m = med[(w, name)]
        return t / t0 + W * m / m0

    fixed = [name for name, _ in settings if name != "learned"]
    best = {w: min(fixed, key=lambda s: score(w, s)) for w in workloads}
    held = validate(args, workloads, dict(settings), best, with_file, rows) if args.validate else None
    if held:
        with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)

    lines = ["# SACS: fixed settings, one knob at a time", "",
             "- command: `scripts/sweep.sh --workloads %s --knobs %s --reps %d --scale %g "
             "--weight %g --train %d --time %s --validate %d`" % (
                 ",".join(workloads), ",".join(knobs), args.reps, args.scale, W, args.train,
                 args.time, args.validate),
             "- learned: SACS_LEARN=1, what it learns kept across runs in a file per workload; "
             "%d training runs before the first measured one" % args.train,
             "- date: %s UTC; %d repetitions, settings rotated every repetition; scale %g" % (
                 datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"), args.reps, args.scale),
             "- score = time / time(default) + W x memory / memory(default), W = %g; lower is "
             "better, the defaults score %g. Memory: time-weighted mean RSS where the workload "
             "traces it, else peak RSS. Medians over the repetitions." % (W, 1 + W), "",
             "## Best fixed setting per workload", "",
             "| workload | best fixed setting | score | time (s) | memory (MiB) | default time (s) | default memory (MiB) | learned score | learned / best fixed |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for w in workloads:
        t, m = med[(w, best[w])]
        t0, m0 = med[(w, "default")]
        learned = ("%.3f | %.3f" % (score(w, "learned"), score(w, "learned") / score(w, best[w]))
                   if (w, "learned") in med else "- | -")
        lines.append("| %s | %s | %.3f | %.4f | %.1f | %.4f | %.1f | %s |" % (
            w, best[w], score(w, best[w]), t, m / 1024, t0, m0 / 1024, learned))
    if held:
        lines += held_summary(held, workloads, best, W, args.validate, not args.no_learned)
    if not args.no_learned:
        lines += ["", "## What the learner chose", "",
                  "At exit of each run with learning on: windows scored (w), windows with every "
                  "knob settled, re-openings and recalls, and each knob that played, with its "
                  "value and state.", "",
                  "| workload | repetition | learner at exit |", "| --- | ---: | --- |"]
        for w in workloads:
            for r in rows:
                if r["workload"] == w and r["setting"] == "learned":
                    lines.append("| %s | %d | %s |" % (w, r["rep"], r["learned"]))
    lines += ["", "## Every setting", "",
              "| workload | setting | score | time (s) | memory (MiB) |", "| --- | --- | ---: | ---: | ---: |"]
    for w in workloads:
        for name, _ in settings:
            t, m = med[(w, name)]
            lines.append("| %s | %s | %.3f | %.4f | %.1f |" % (w, name, score(w, name), t, m / 1024))
    lines += ["", "## Per knob, over the workloads", "",
              "Geometric mean of each candidate's score over the workloads (the default value "
              "scores %g on each)." % (1 + W), "",
              "| knob | value | geometric mean score |", "| --- | ---: | ---: |"]
    for k in knobs:
        for v in KNOBS[k]:
            name = "default" if v == base[k] else "%s=%d" % (k, v)
            g = statistics.geometric_mean([score(w, name) for w in workloads])
            lines.append("| %s | %d%s | %.3f |" % (k, v, " (default)" if name == "default" else "", g))
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        chart(os.path.join(args.out, "scores.png"), workloads, fixed, score,
              learned=not args.no_learned and all((w, "learned") in med for w in workloads), W=W)
    except ImportError:
        print("sweep: no matplotlib, no chart", file=sys.stderr)
    print("sweep: results in %s (summary.md, results.csv)" % args.out, file=sys.stderr)


def medians(rows, workloads, names):
    """(workload, setting) -> (median time, median memory) over `rows`."""
    med = {}
    for w in workloads:
        for name in names:
            rs = [r for r in rows if r["workload"] == w and r["setting"] == name]
            if rs:
                med[(w, name)] = (statistics.median(r["time_s"] for r in rs),
                                  statistics.median(r["memory_kib"] for r in rs))
    return med


def validate(args, workloads, settings, best, with_file, rows):
    """Held-out runs: `args.validate` more repetitions of the default, each workload's best fixed
    setting (chosen by the sweep) and the learned setting, alternated, appended to `rows` with
    stage "validate". Returns their medians, (workload, role) -> (time, memory), role being
    "default", "best" or "learned"."""
    roles = [("default", "default"), ("best", None)]
    if not args.no_learned:
        roles.append(("learned", "learned"))
    out = []
    n, total = 0, args.validate * len(workloads) * len(roles)
    for rep in range(args.validate):
        for w in workloads:
            order = roles[rep % len(roles):] + roles[:rep % len(roles)]
            for role, name in order:
                name = name or best[w]
                n += 1
                wall, cpu, m, checksum, learn = run(args.workload_bin, args.sacs_lib, w,
                                                    args.scale, with_file(w, settings[name]),
                                                    args.out)
                t = cpu if args.time == "cpu" else wall
                row = {"stage": "validate", "workload": w, "setting": name, "rep": rep,
                       "time_s": t, "wall_s": wall, "cpu_s": cpu, "memory_kib": m,
                       "checksum": checksum,
                       "learned": learned_summary(learn) if learn else ""}
                rows.append(row)
                out.append(dict(row, setting=role))
                print("[validate %d/%d] %-14s %-32s %.4f s %7.1f MiB" % (n, total, w, name, t, m / 1024),
                      file=sys.stderr)
    return medians(out, workloads, [r for r, _ in roles])


def held_summary(held, workloads, best, W, reps, learned):
    """The summary's section on the held-out runs."""
    lines = ["", "## Held-out runs", "",
             "%d more repetitions of three settings only, alternated, after the sweep: the "
             "default, the best fixed setting the sweep chose for the workload, and the learned "
             "one. Scored against the default of these runs alone, so the best fixed setting is "
             "not favoured by the noise that made it the best of many." % reps, "",
             "| workload | best fixed setting | its score | learned score | learned / best fixed |",
             "| --- | --- | ---: | ---: | ---: |"]

    def hs(w, role):
        t0, m0 = held[(w, "default")]
        t, m = held[(w, role)]
        return t / t0 + W * m / m0

    for w in workloads:
        lw = ("%.3f | %.3f" % (hs(w, "learned"), hs(w, "learned") / hs(w, "best"))
              if learned else "- | -")
        lines.append("| %s | %s | %.3f | %s |" % (w, best[w], hs(w, "best"), lw))
    return lines


def chart(path, workloads, fixed, score, learned, W):
    """Scores per workload, relative to the default's (1 + W): the best fixed setting and, with
    learning, the learned one; bars grow from 1x, down is better."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = 1 + W
    series = [("best fixed setting", [min(score(w, s) for s in fixed) / base for w in workloads])]
    if learned:
        series.append(("learned (SACS_LEARN=1)", [score(w, "learned") / base for w in workloads]))
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(workloads) + 2), 4.2))
    width = 0.8 / len(series)
    for i, (label, ys) in enumerate(series):
        xs = [k + (i - (len(series) - 1) / 2) * width for k in range(len(workloads))]
        ax.bar(xs, [y - 1.0 for y in ys], width, bottom=1.0, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads, rotation=30, ha="right")
    ax.set_ylabel("score / default's score (lower is better)")
    ax.set_title("time + %g x memory, each against the default setting; medians of runs" % W)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
