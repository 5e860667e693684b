#!/usr/bin/env python3
"""The side-by-side comparison behind scripts/compare.sh (run that; it installs and builds first).

Runs every bench-harness workload and a few real programs under each allocator -- glibc (no
preload), SACS, mimalloc, jemalloc and tcmalloc, the last four through LD_PRELOAD -- alternating
the allocators' order from one run to the next, for several repetitions. Each run's wall time is
measured here and its peak resident set by GNU time; workloads also report their own elapsed
time, which excludes process start-up. Every run's output is checked: a workload fails on a
corrupted block, and a program's output digest must equal the one under glibc. A failed run is a
failed comparison (exit status 1), never a fast one.

With --sites, SACS runs three times per job, once in each Site Rules mode (sacs with
SACS_SITES=0, sacs-observe, sacs-on), and the summary adds the modes' figures against sites off
and their prediction accuracy per job. Every summary has the time-weighted mean RSS and the RSS
after each phase of the jobs that report them (fragmentation, server, python3-lifetimes).

Writes into OUT (bench-results/compare/<stamp>/): results.csv (one row per run), summary.md
(medians, ratios to mimalloc, geometric means, SACS's statistics per workload, the largest
losses), and time.png / rss.png (ratios to mimalloc per workload).
"""
import argparse
import csv
import glob
import hashlib
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------------------
# Allocators
# ---------------------------------------------------------------------------------------------

# name -> shared library file name under the multiarch library directory. glibc's own libc is
# preloaded too: a no-op for most programs, but it makes programs linked against another malloc
# (Debian's redis-server links libjemalloc) use glibc's malloc in the glibc column.
CONTENDER_LIBS = {
    "glibc": "libc.so.6",
    "sacs": None,  # target/release/libsacs.so, set in main()
    "mimalloc": "libmimalloc.so.2",
    "jemalloc": "libjemalloc.so.2",
    "tcmalloc": "libtcmalloc_minimal.so.4",
}
BASELINE = "mimalloc"

# Site Rules' modes (issue 9) as contenders of their own: the same libsacs.so as "sacs", with
# SACS_SITES set (compare.sh --sites adds them; "sacs" then runs with SACS_SITES=0 explicitly).
SITE_MODES = {"sacs-observe": "observe", "sacs-on": "on"}

# name -> environment variables set for the run, besides LD_PRELOAD (filled in by main()). Every
# SACS mode runs its first repetition with SACS_STATS=json, whose object (written at exit, after
# the work, one per process, into SACS_STATS_FILE: a file per process in a directory of the run's
# own, see under()) the summary reads: the same for each of them, and nothing of it for the other
# contenders. Its later repetitions run without it, as a user runs SACS: writing the statistics
# at exit runs code and touches pages that nothing else does (about 200 KiB more peak RSS for a
# program of 2.6 MiB), so with three or more repetitions the medians are those of runs as users
# make them.
CONTENDER_ENV = {"sacs": {"SACS_STATS": "json"}}


def find_lib(name):
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return None


# ---------------------------------------------------------------------------------------------
# Jobs: what runs under each allocator
# ---------------------------------------------------------------------------------------------


class Job:
    """One thing to run under every allocator.

    kind "workload": argv of the workload binary; its key=value line is parsed and its
    checksum must be the same for every allocator.
    kind "program": argv of a real program; the sha256 of its standard output must be the same
    for every allocator. `server` jobs (redis) are special-cased in run_redis().
    """

    def __init__(self, name, kind, argv=None, stdin=None, cwd=None, timeout=600):
        self.name, self.kind, self.argv = name, kind, argv
        self.stdin, self.cwd, self.timeout = stdin, cwd, timeout


def workload_jobs(binary, scale):
    out = subprocess.run([binary, "list"], check=True, capture_output=True, text=True).stdout
    jobs = []
    for line in out.splitlines():
        name = line.split()[0]
        if name == "scaling":
            for t in (1, 2, 4, 8):
                jobs.append(Job("scaling-%dt" % t, "workload",
                                [binary, name, "--scale", str(scale), "--threads", str(t)]))
        else:
            jobs.append(Job(name, "workload", [binary, name, "--scale", str(scale)]))
    return jobs


def program_jobs(work, quick):
    """The real programs: python3 (two scripts), sqlite3, a gcc build, redis-server with
    redis-benchmark."""
    jobs = []
    py = shutil.which("python3", path="/usr/bin") or shutil.which("python3")
    jobs.append(Job("python3", "program",
                    [py, os.path.join(ROOT, "bench-harness/programs/objects.py"), "2" if quick else "12"]))
    jobs.append(Job("python3-lifetimes", "program",
                    [py, os.path.join(ROOT, "bench-harness/programs/lifetimes.py"),
                     "2000" if quick else "20000"]))

    sql = os.path.join(work, "bench.sql")
    with open(sql, "w") as f:
        f.write(sqlite_script(20000 if quick else 200000))
    jobs.append(Job("sqlite3", "program", ["sqlite3", ":memory:"], stdin=sql))

    build = c_sources(work, 2 if quick else 6, 40 if quick else 50)
    jobs.append(Job("gcc", "program", ["sh", "-c", build], cwd=work))

    jobs.append(Job("redis", "server", timeout=300))
    return jobs


def sqlite_script(rows):
    """An in-memory database: bulk insert, indexes, joins, grouping, updates and deletes."""
    return """
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, body TEXT);
CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT);
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows})
INSERT INTO item SELECT x, printf('item-%08d-%s', (x * 2654435761) % 1000003, substr('abcdefghij', 1 + x % 10)),
    x % 997, printf('%.*c', (x * 7919) % 700, 'z') FROM c;
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 996)
INSERT INTO grp SELECT x, printf('group-%d', x * x) FROM c;
COMMIT;
CREATE INDEX item_name ON item(name);
CREATE INDEX item_grp ON item(grp, name);
SELECT count(*), sum(length(body)), max(name) FROM item;
SELECT g.label, count(*), sum(length(i.body)) FROM item i JOIN grp g ON g.id = i.grp
    GROUP BY g.label ORDER BY 3 DESC, 1 LIMIT 5;
SELECT name FROM item WHERE name > 'item-00500000' ORDER BY name LIMIT 3;
UPDATE item SET body = body || body WHERE id % 5 = 0;
DELETE FROM item WHERE id % 3 = 0;
SELECT count(*), sum(length(body)) FROM item;
SELECT grp, group_concat(substr(name, 6, 8), ',') FROM (SELECT * FROM item ORDER BY name)
    WHERE grp < 3 GROUP BY grp;
""".format(rows=rows)


def c_sources(work, units, functions):
    """Writes a C program of `units` translation units of `functions` functions each, and
    returns the shell command that builds it unit by unit with gcc -O2 and runs it."""
    names = []
    for u in range(units):
        parts = ["#include <string.h>\n"]
        for i in range(functions):
            parts.append("""
unsigned long f{u}_{i}(unsigned long x) {{
    unsigned long a[16];
    for (int k = 0; k < 16; k++) a[k] = x * {m}u + k;
    for (int r = 0; r < {r}; r++) {{
        switch ((x + r) % 5) {{
        case 0: x ^= a[r % 16] << 3; break;
        case 1: x += a[(r * 7) % 16] >> 2; break;
        case 2: x = x * 31 + {i}; break;
        case 3: {{ char s[32]; memset(s, (int)(x & 63), sizeof s); x += (unsigned long)s[r % 32]; }} break;
        default: x -= a[x % 16];
        }}
    }}
    return x;
}}
""".format(u=u, i=i, m=2 * i + 1, r=3 + i % 13))
        name = "unit%d.c" % u
        with open(os.path.join(work, name), "w") as f:
            f.write("".join(parts))
        names.append(name)
    main = ["#include <stdio.h>\n"]
    calls = []
    for u in range(units):
        for i in range(functions):
            main.append("unsigned long f%d_%d(unsigned long);\n" % (u, i))
            calls.append("    s = f%d_%d(s);\n" % (u, i))
    main.append("int main(void) {\n    unsigned long s = 1;\n" + "".join(calls))
    main.append('    printf("%lu\\n", s);\n    return 0;\n}\n')
    with open(os.path.join(work, "main.c"), "w") as f:
        f.write("".join(main))
    names.append("main.c")
    objs = " ".join(n[:-2] + ".o" for n in names)
    return ("set -e; for f in %s; do gcc -O2 -c \"$f\"; done; gcc -o generated %s; ./generated"
            % (" ".join(names), objs))


# ---------------------------------------------------------------------------------------------
# Running one job under one allocator
# ---------------------------------------------------------------------------------------------

# The summary's counters, by the path of each in SACS's statistics JSON (docs/statistics.md).
STAT_JSON = {
    "warm_pool_hits": ("warm_pool", "hits"),
    "warm_pool_prefills": ("warm_pool", "prefills"),
    "big_cache_hits": ("big_cache", "hits"),
    "big_cache_misses": ("big_cache", "misses"),
    "whale_ring_hits": ("whale_ring", "hits"),
    "whale_ring_misses": ("whale_ring", "misses"),
    "remote_collects": ("warm_pool", "remote_collects"),
}
# And `syscalls` (the calls of every kind) and `stat_tables` (the number of objects: processes
# that ran under SACS and exited).
STAT_KEYS = list(STAT_JSON) + ["syscalls", "stat_tables"]

# The counters of the statistics' `sites` object that the summary uses, as site_fields() names
# them; every counter there is kept in the CSV's site_stats column.
SITE_KEYS = ["site_samples", "site_short", "site_long", "site_rules_adopted", "site_dropped",
             "site_evicted", "site_predictions_right", "site_wrong", "site_unpredicted"]

# `sites` keys whose column names were set before the statistics had a JSON form (from the words
# of the table); the others are site_<key>.
SITE_NAMES = {"rules_dropped": "site_dropped", "rules_evicted": "site_evicted",
              "predicted_right": "site_predictions_right", "predicted_wrong": "site_wrong",
              "pages_relabelled": "site_relabelled", "big_kept": "site_kept",
              "big_released": "site_released_at_free"}


def site_fields(sites):
    """The counters of one statistics object's `sites` by column name: "samples" becomes
    site_samples, "predicted_right" site_predictions_right (SITE_NAMES); every numeric counter is
    kept, so counters added later are picked up. site_rules is the rules in force (adopted less
    dropped), as the table shows it."""
    fields = {}
    for key, value in (sites or {}).items():
        if isinstance(value, int) and not isinstance(value, bool):
            fields[SITE_NAMES.get(key, "site_" + key)] = value
    if "site_rules_adopted" in fields:
        fields["site_rules"] = max(0, fields["site_rules_adopted"] - fields.get("site_dropped", 0))
    return fields


def stats_objects(stats_dir, stderr=""):
    """The statistics objects of a run: every line of every file in `stats_dir` (SACS_STATS_FILE
    names one file per process; a line is one object), and the JSON lines of its standard error
    (where a process that cannot open SACS_STATS_FILE writes them). A line that is not JSON (a
    process killed while writing) is skipped."""
    lines = [l for l in stderr.splitlines() if l.startswith('{"sacs":')]
    for path in sorted(glob.glob(os.path.join(stats_dir, "*"))) if stats_dir else []:
        with open(path, errors="replace") as f:
            lines += f.readlines()
    objects = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "sacs" in obj:
            objects.append(obj)
    return objects


def sacs_stats(stats_dir, stderr=""):
    """Adds up the SACS statistics objects of a run (one per process that exited; see
    stats_objects) into the summary's counters (STAT_KEYS) and the `sites` counters; `site_stats`
    lists all of the latter as name=value."""
    totals = dict.fromkeys(STAT_KEYS, 0)
    sites = {}
    for obj in stats_objects(stats_dir, stderr):
        totals["stat_tables"] += 1
        for key, value in site_fields(obj.get("sites")).items():
            sites[key] = sites.get(key, 0) + value
        for key, (section, field) in STAT_JSON.items():
            totals[key] += int((obj.get(section) or {}).get(field, 0))
        totals["syscalls"] += sum(int(v.get("calls", 0)) for v in (obj.get("syscalls") or {}).values())
    totals.update(sites)
    totals["site_stats"] = ";".join("%s=%d" % kv for kv in sorted(sites.items()))
    return totals


def clean_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def under(alloc, libs, argv, rss_file, stats_dir=None):
    """`argv` run under `alloc`, through GNU time, which writes the peak resident set (KiB) of
    the process tree into `rss_file`. Not wait4's own figure: ru_maxrss carries the high-water
    mark of the image before exec, which for a child of this runner is the runner's ~18 MiB.
    LD_PRELOAD is set by `env`, after time, so time itself runs under no preload. A contender
    with SACS_STATS writes its statistics into `stats_dir`, one file per process (%p: its PID);
    without a `stats_dir` it runs without SACS_STATS."""
    pre = ["LD_PRELOAD=" + libs[alloc]] if libs[alloc] else []
    env = dict(CONTENDER_ENV.get(alloc, {}))
    if not stats_dir:
        env.pop("SACS_STATS", None)
    elif env.get("SACS_STATS"):
        env["SACS_STATS_FILE"] = os.path.join(stats_dir, "stats.%p.json")
    pre += ["%s=%s" % kv for kv in sorted(env.items())]
    return ["/usr/bin/time", "-f", "%M %R %S %U", "-o", rss_file, "env"] + pre + list(argv)


def read_rss(rss_file):
    """(peak RSS in KiB, minor page faults) as GNU time wrote them (its last line), or
    (None, None). See read_cpu for the rest of that line."""
    try:
        with open(rss_file) as f:
            rss, faults = f.read().strip().splitlines()[-1].split()[:2]
        return int(rss), int(faults)
    except (OSError, IndexError, ValueError):
        return None, None


def read_cpu(rss_file):
    """{"sys_s": system time, "user_s": user time} in seconds as GNU time wrote them (the third
    and fourth fields of its last line; whole process tree), or {} if absent."""
    try:
        with open(rss_file) as f:
            fields = f.read().strip().splitlines()[-1].split()
        return {"sys_s": float(fields[2]), "user_s": float(fields[3])}
    except (OSError, IndexError, ValueError):
        return {}


def wait_for(proc, timeout):
    """Waits for `proc`; kills it after `timeout` seconds. Returns its exit status."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def wants_stats(alloc):
    return bool(CONTENDER_ENV.get(alloc, {}).get("SACS_STATS"))


def run_command(job, alloc, libs, stats):
    """Runs a workload or program job; returns a result dict (with `sacs_stats`, the summed
    statistics of its processes, when `stats` asks a contender that writes them)."""
    stdin = open(job.stdin) if job.stdin else subprocess.DEVNULL
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    rss_file = tempfile.mktemp(prefix="sacs-rss-")
    stats_dir = tempfile.mkdtemp(prefix="sacs-stats-")
    start = time.perf_counter()
    proc = subprocess.Popen(under(alloc, libs, job.argv, rss_file, stats_dir if stats else None), stdin=stdin, stdout=out,
                            stderr=err, cwd=job.cwd, env=clean_env())
    code = wait_for(proc, job.timeout)
    wall = time.perf_counter() - start
    rss, faults = read_rss(rss_file)
    cpu = read_cpu(rss_file)
    if os.path.exists(rss_file):
        os.unlink(rss_file)
    if job.stdin:
        stdin.close()
    out.seek(0)
    err.seek(0)
    stdout = out.read().decode(errors="replace")
    stderr = err.read().decode(errors="replace")
    result = {"wall_s": wall, "peak_rss_kib": rss, "minor_faults": faults, "exit": code,
              "stderr": stderr, **cpu}
    if stats and wants_stats(alloc):
        result["sacs_stats"] = sacs_stats(stats_dir, stderr)
    shutil.rmtree(stats_dir, ignore_errors=True)
    if code == 0 and rss is None:
        code, stderr = 1, "GNU time wrote no peak resident set\n" + stderr
    if code != 0:
        result["error"] = "exit status %d: %s" % (code, stderr.strip()[-300:])
        return result
    if job.kind == "workload":
        fields = dict(f.split("=", 1) for f in stdout.split() if "=" in f)
        result["time_s"] = float(fields["elapsed_s"])
        result["final_rss_kib"] = int(fields["final_rss_kib"])
        result["digest"] = fields["checksum"]
        result["ops_per_s"] = float(fields["ops_per_s"])
        result.update(trace_fields(fields))
    else:
        result["time_s"] = wall
        checked, traced = split_trace(stdout)
        result["digest"] = hashlib.sha256(checked.encode()).hexdigest()[:16]
        result.update(traced)
    return result


TRACE_KEYS = ["mean_rss_kib", "phases", "phase_rss_kib"]


def trace_fields(fields):
    """The resident set over time from a run's key=value fields, where it reported it
    (`phases=a/b phase_rss_kib=x/y mean_rss_kib=m`, see bench-harness/src/bin/workload/trace.rs)."""
    if "mean_rss_kib" not in fields:
        return {}
    out = {"mean_rss_kib": int(fields["mean_rss_kib"])}
    if "phase_rss_kib" in fields:
        out["phase_rss_kib"] = fields["phase_rss_kib"]
        n = len(fields["phase_rss_kib"].split("/"))
        out["phases"] = fields.get("phases", "/".join(str(i + 1) for i in range(n)))
    return out


def split_trace(stdout):
    """A program's output without its resident-set line (the one with phase_rss_kib=, whose
    figures differ from one allocator to the next), and that line's fields; the program's last
    phase is its final RSS."""
    kept, traced = [], {}
    for line in stdout.splitlines(keepends=True):
        if "phase_rss_kib=" in line:
            traced = trace_fields(dict(f.split("=", 1) for f in line.split() if "=" in f))
        else:
            kept.append(line)
    if traced.get("phase_rss_kib"):
        traced["final_rss_kib"] = int(traced["phase_rss_kib"].split("/")[-1])
    return "".join(kept), traced


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cli(port, *args, data=None):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--raw", *args],
                          input=data, capture_output=True, timeout=60).stdout


def run_redis(job, alloc, libs, quick, stats):
    """redis-server under the allocator, redis-benchmark (not preloaded) against it on
    127.0.0.1; time is the benchmark's wall time, peak RSS the server's. The server must then
    still hold and return what the benchmark and a few checks wrote."""
    port = free_port()
    work = tempfile.mkdtemp(prefix="sacs-redis-")
    err = tempfile.TemporaryFile()
    rss_file = os.path.join(work, "rss")
    stats_dir = os.path.join(work, "stats")
    os.mkdir(stats_dir)
    server = subprocess.Popen(
        under(alloc, libs, ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                            "--appendonly", "no", "--daemonize", "no", "--dir", work], rss_file,
              stats_dir if stats else None),
        stdout=subprocess.DEVNULL, stderr=err, env=clean_env())
    try:
        for _ in range(200):
            if redis_cli(port, "ping").strip() == b"PONG":
                break
            if server.poll() is not None:
                break
            time.sleep(0.05)
        else:
            return {"exit": 1, "error": "redis-server did not answer PING"}
        n = "20000" if quick else "200000"
        bench = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q", "-n", n, "-r", "100000",
                 "-d", "400", "-P", "16", "-t", "set,get,lpush,lpop,hset,sadd"]
        start = time.perf_counter()
        b = subprocess.run(bench, capture_output=True, timeout=job.timeout, env=clean_env())
        wall = time.perf_counter() - start
        if b.returncode != 0:
            return {"exit": b.returncode, "error": "redis-benchmark failed: %r" % b.stderr[-300:]}
        value = bytes((97 + (i * 7 + i // 26) % 26) for i in range(300000))
        checks = [redis_cli(port, "-x", "SET", "check:v", data=value),
                  hashlib.sha256(redis_cli(port, "GET", "check:v")).hexdigest(),
                  redis_cli(port, "RPUSH", "check:l", *[str(i) for i in range(500)]),
                  redis_cli(port, "LRANGE", "check:l", "100", "104"),
                  str(int(redis_cli(port, "DBSIZE")) > 1000)]
        digest = hashlib.sha256(repr(checks).encode()).hexdigest()[:16]
        redis_cli(port, "SHUTDOWN", "NOSAVE")
        code = wait_for(server, 60)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        rss, faults = read_rss(rss_file)
        res = {"wall_s": wall, "time_s": wall, "peak_rss_kib": rss, "minor_faults": faults,
               "exit": code, "digest": digest, "stderr": stderr, **read_cpu(rss_file)}
        if stats and wants_stats(alloc):
            res["sacs_stats"] = sacs_stats(stats_dir, stderr)
        if code != 0 or res["peak_rss_kib"] is None:
            res["error"] = "redis-server: exit status %d: %s" % (code, stderr.strip()[-300:])
        return res
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def runs(rows, key):
    """{(job, alloc): [`key` of every successful run]}."""
    groups = {}
    for r in rows:
        if r.get(key) not in (None, ""):
            groups.setdefault((r["job"], r["alloc"]), []).append(float(r[key]))
    return groups


def medians(rows, key):
    """{(job, alloc): median of `key` over the successful runs}."""
    return {k: statistics.median(v) for k, v in runs(rows, key).items()}


def ratio_table(title, unit, fmt, med, jobs, allocs):
    lines = ["### " + title, "",
             "Median %s per allocator, then each allocator's ratio to %s (lower is better)." % (unit, BASELINE), "",
             "| workload | " + " | ".join(allocs) + " | " + " | ".join("%s/%s" % (a, BASELINE[:2]) for a in allocs if a != BASELINE) + " |",
             "| --- |" + " ---: |" * (2 * len(allocs) - 1)]
    ratios = {a: [] for a in allocs}
    for j in jobs:
        base = med.get((j, BASELINE))
        cells = [fmt(med[(j, a)]) if (j, a) in med else "fail" for a in allocs]
        rcells = []
        for a in allocs:
            if a == BASELINE:
                continue
            if base and (j, a) in med:
                r = med[(j, a)] / base
                ratios[a].append(r)
                rcells.append("%.2f" % r)
            else:
                rcells.append("–")
        lines.append("| %s | %s | %s |" % (j, " | ".join(cells), " | ".join(rcells)))
    gm = ["**%.2f**" % geomean(ratios[a]) for a in allocs if a != BASELINE]
    lines.append("| **geometric mean** |" + " |" * len(allocs) + " " + " | ".join(gm) + " |")
    return "\n".join(lines) + "\n", {a: geomean(ratios[a]) for a in allocs if a != BASELINE}


def losses(med, jobs, allocs):
    """SACS's ratio to the best other contender (not SACS in another site mode), per job, worst
    first."""
    out = []
    for j in jobs:
        if (j, "sacs") not in med:
            continue
        others = [(med[(j, a)], a) for a in allocs
                  if a != "sacs" and a not in SITE_MODES and (j, a) in med]
        if others:
            best, who = min(others)
            out.append((med[(j, "sacs")] / best, j, who))
    return sorted(out, reverse=True)


def pct(a, b):
    return "%.1f %%" % (100.0 * a / (a + b)) if a + b else "–"


def mib(kib):
    return "%.1f" % (kib / 1024)


def phase_medians(rows):
    """{(job, alloc): (phase names, median resident set at the end of each phase, KiB)}."""
    groups = {}
    for r in rows:
        if r.get("phase_rss_kib"):
            key = (r["job"], r["alloc"])
            names, runs = groups.setdefault(key, (r["phases"].split("/"), []))
            runs.append([int(v) for v in r["phase_rss_kib"].split("/")])
    return {k: (names, [statistics.median(col) for col in zip(*runs)])
            for k, (names, runs) in groups.items()}


def memory_over_time(rows, jobs, allocs):
    """The time-weighted mean RSS of every job that reports it (ratios to the baseline), then,
    per job that reports phases, each contender's peak, RSS after each phase, final and mean RSS."""
    mmed = medians(rows, "mean_rss_kib")
    traced = [j for j in jobs if any((j, a) in mmed for a in allocs)]
    if not traced:
        return []
    t, _ = ratio_table("Time-weighted mean RSS (the jobs that trace their resident set)", "MiB",
                       lambda v: mib(v), mmed, traced, allocs)
    parts = [t, "### RSS over the phases", "",
             "Per job, the median over runs of each contender's resident set (MiB) at the end of "
             "each phase, with its ratio to %s in brackets; then peak, final and time-weighted "
             "mean RSS and their ratios to %s. Phases: fragmentation's 12 rounds of allocating "
             "and freeing (no idle pause); server's fill / steady / shrink / idle; batch's jobs, each "
             "read after its idle pause; "
             "python3-lifetimes' build / use / drop / idle. The mean weighs each reading by the "
             "time to the next (readings every few thousand operations, idle pauses "
             "included)." % (BASELINE, BASELINE), ""]
    pmed, rmed, fmed = phase_medians(rows), medians(rows, "peak_rss_kib"), medians(rows, "final_rss_kib")
    for j in traced:
        names = next((pmed[(j, a)][0] for a in allocs if (j, a) in pmed), [])
        base = pmed.get((j, BASELINE), (names, []))[1]
        parts += ["#### %s" % j, "",
                  "| contender | " + " | ".join(names) + " | peak | final | mean | peak/%s | final/%s | mean/%s |"
                  % ((BASELINE[:2],) * 3),
                  "| --- |" + " ---: |" * (len(names) + 6)]
        for a in allocs:
            phases = pmed.get((j, a), (names, []))[1]
            cells = []
            for i in range(len(names)):
                if i >= len(phases):
                    cells.append("–")
                elif i < len(base) and base[i]:
                    cells.append("%s (%.2f)" % (mib(phases[i]), phases[i] / base[i]))
                else:
                    cells.append(mib(phases[i]))
            totals, ratios = [], []
            for med in (rmed, fmed, mmed):
                v, b = med.get((j, a)), med.get((j, BASELINE))
                totals.append(mib(v) if v else "–")
                ratios.append("%.2f" % (v / b) if v and b else "–")
            parts.append("| %s | %s | %s | %s |" % (a, " | ".join(cells), " | ".join(totals), " | ".join(ratios)))
        parts.append("")
    return parts


def site_modes_against_off(rows, jobs, allocs):
    """Issue 9's bar, per job: each site mode's final, mean and peak RSS and time against SACS
    with sites off, and its final RSS against the leanest other contender's."""
    modes = [m for m in SITE_MODES if m in allocs]
    if not modes or "sacs" not in allocs:
        return []
    fmed, mmed = medians(rows, "final_rss_kib"), medians(rows, "mean_rss_kib")
    rmed, tmed = medians(rows, "peak_rss_kib"), medians(rows, "time_s")
    peers = [a for a in allocs if a != "sacs" and a not in SITE_MODES]
    parts = ["### Site Rules' modes against SACS with sites off", "",
             "Medians; each ratio is the mode's figure over SACS's with `SACS_SITES=0` in the same "
             "run. \"final / leanest\" is the mode's final RSS over the lowest final RSS among the "
             "other allocators. Issue 9's bar for `on`: final ≤ 0.7× off and ≤ 0.5× the leanest, "
             "peak no higher than off.", "",
             "| job | mode | final / off | mean / off | peak / off | time / off | final / leanest (who) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]

    def ratio(med, j, a):
        v, off = med.get((j, a)), med.get((j, "sacs"))
        return "%.2f" % (v / off) if v and off else "–"

    for j in jobs:
        for m in modes:
            if (j, m) not in tmed:
                continue
            lean = min(((fmed[(j, p)], p) for p in peers if (j, p) in fmed), default=None)
            vs_lean = ("%.2f (%s)" % (fmed[(j, m)] / lean[0], lean[1])
                       if lean and (j, m) in fmed else "–")
            parts.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                j, SITE_MODES[m], ratio(fmed, j, m), ratio(mmed, j, m), ratio(rmed, j, m),
                ratio(tmed, j, m), vs_lean))
    parts.append("")
    return parts


def prediction_accuracy(rows, jobs, allocs):
    """Per job, the site modes' samples, rules and prediction accuracy from their statistics
    (`sites`): medians per run, accuracy from the predictions of all runs."""
    modes = [m for m in SITE_MODES if m in allocs]
    if not modes:
        return []
    parts = ["### Site Rules' prediction accuracy", "",
             "From the `sites` counters of `SACS_STATS=json` (summed over a run's processes). Samples, "
             "rules adopted and unpredicted samples: median per run; right / wrong and accuracy: "
             "over all runs. A sample is predicted once its site has an adopted rule; accuracy "
             "is right / (right + wrong).", "",
             "| job | mode | samples | rules adopted | right / wrong | accuracy | unpredicted |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for j in jobs:
        for m in modes:
            runs = [r for r in rows if r["job"] == j and r["alloc"] == m and "error" not in r
                    and r.get("site_samples") not in (None, "")]
            if not runs:
                continue
            get = lambda r, *keys: next((int(r[k]) for k in keys if r.get(k) not in (None, "")), 0)
            right = sum(get(r, "site_predictions_right", "site_right") for r in runs)
            wrong = sum(get(r, "site_wrong", "site_predictions_wrong") for r in runs)
            med = lambda *keys: statistics.median(get(r, *keys) for r in runs)
            parts.append("| %s | %s | %g | %g | %d / %d | %s | %g |" % (
                j, SITE_MODES[m], med("site_samples"), med("site_rules_adopted"), right, wrong,
                pct(right, wrong), med("site_unpredicted")))
    parts.append("")
    return parts


def kernel_costs(rows, jobs, allocs):
    """Per job, each contender's median minor page faults and system time (GNU time's, the whole
    process tree): what a loss to the kernel (fresh memory faulted in, memory given back and
    taken again) looks like, however noisy the wall time."""
    faults, sys_s = medians(rows, "minor_faults"), medians(rows, "sys_s")
    if not sys_s and not faults:
        return []
    parts = ["### Minor faults and system time", "",
             "Medians over runs: minor page faults / system seconds (GNU time).", "",
             "| job | " + " | ".join(allocs) + " |", "| --- |" + " ---: |" * len(allocs)]
    for j in jobs:
        cells = []
        for a in allocs:
            f, t = faults.get((j, a)), sys_s.get((j, a))
            cells.append("–" if f is None and t is None else "%s / %s" % (
                "%d" % f if f is not None else "–", "%.2f" % t if t is not None else "–"))
        parts.append("| %s | %s |" % (j, " | ".join(cells)))
    parts.append("")
    return parts


def write_summary(path, rows, jobs, allocs, meta):
    tmed = medians(rows, "time_s")
    rmed = medians(rows, "peak_rss_kib")
    fmed = medians(rows, "final_rss_kib")
    parts = ["# SACS beside glibc, mimalloc, jemalloc and tcmalloc", "",
             "- command: `%s`" % meta["command"],
             "- date: %s; machine: %s; %s" % (meta["date"], meta["machine"], meta["sacs_commit"]),
             "- %d repetitions, allocators alternated (the order rotates every run); %s" % (meta["reps"], meta["mode"]),
             "- time: a workload's own elapsed time (start-up excluded); a program's wall time "
             "(redis: redis-benchmark's). Peak RSS: GNU time's maximum resident set of the "
             "process (for gcc, of the largest process of the build; for redis, of the server).", ""]
    t, tg = ratio_table("Time", "seconds", lambda v: "%.3f" % v, tmed, jobs, allocs)
    r, rg = ratio_table("Peak RSS", "MiB", lambda v: "%.1f" % (v / 1024), rmed, jobs, allocs)
    parts += [t, r]
    wl = [j for j in jobs if any((j, a) in fmed for a in allocs)]
    f, _ = ratio_table("Final RSS (workloads; fragmentation: while only its long-lived objects remain; "
                       "server: while a quarter of its cache remains; python3-lifetimes: its idle phase)",
                       "MiB", lambda v: "%.1f" % (v / 1024), fmed, wl, allocs)
    parts.append(f)
    parts += memory_over_time(rows, jobs, allocs)
    parts += site_modes_against_off(rows, jobs, allocs)
    parts += prediction_accuracy(rows, jobs, allocs)

    parts += ["### SACS's statistics per workload", "",
              "From `SACS_STATS=json` (the first repetition's; summed over a run's processes). A loss can "
              "be traced to the tier whose counters move.", "",
              "| workload | time vs best other | page faults (best other's) | warm-pool hits (rate) | big-cache hits (rate) | whale-ring hits / misses | remote collects | system calls |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    faults = medians(rows, "minor_faults")
    smed = {k: medians([r for r in rows if r["alloc"] == "sacs"], k) for k in STAT_KEYS}
    loss = {j: (x, who) for x, j, who in losses(tmed, jobs, allocs)}
    for j in jobs:
        g = lambda k: int(smed[k].get((j, "sacs"), 0))
        x, who = loss.get(j, (float("nan"), "–"))
        parts.append("| %s | %.2f (%s) | %d (%d) | %d (%s) | %d (%s) | %d / %d | %d | %d |" % (
            j, x, who, faults.get((j, "sacs"), 0), faults.get((j, who), 0), g("warm_pool_hits"), pct(g("warm_pool_hits"), g("warm_pool_prefills")),
            g("big_cache_hits"), pct(g("big_cache_hits"), g("big_cache_misses")),
            g("whale_ring_hits"), g("whale_ring_misses"), g("remote_collects"), g("syscalls")))
    parts.append("")
    parts += kernel_costs(rows, jobs, allocs)
    if meta["reps"] < MIN_REPS_FOR_VERDICT:
        # One or two runs per contender: the same program varies 20-50 % between runs on these
        # machines, so a ranking of losses or a goal verdict would flip from one run to the next.
        parts += ["### No verdict from %d run%s" % (meta["reps"], "" if meta["reps"] == 1 else "s"), "",
                  "The figures above are %s per contender: on a shared machine a program's time "
                  "varies by 20-50 %% between runs, so they say whether every run worked and "
                  "roughly where each allocator stands, not which losses are real. Run with "
                  "`--reps %d` or more (the full comparison has 5) for the largest losses and "
                  "the goal check." % ("one run" if meta["reps"] == 1 else "two runs", MIN_REPS_FOR_VERDICT),
                  ""]
    else:
        parts += ["### Largest losses of SACS (time, against the best other allocator)", ""]
        for x, j, who in losses(tmed, jobs, allocs)[:3]:
            parts.append("- %s: %.2fx %s" % (j, x, who))
        parts += ["", "### Goal check", "",
                  "- time geometric mean sacs/mimalloc: %.2f (goal ≤ 0.95)" % tg.get("sacs", float("nan")),
                  "- peak RSS geometric mean sacs/mimalloc: %.2f (goal ≤ 1.00)" % rg.get("sacs", float("nan")),
                  "- workloads more than 10 %% slower than the best other: %s" % (
                      ", ".join("%s (%.2fx)" % (j, x) for x, j, _ in losses(tmed, jobs, allocs) if x > 1.10) or "none"),
                  ""]
    with open(path, "w") as f:
        f.write("\n".join(parts))
    return tg, rg


# Runs per contender below which the summary gives no ranking of losses and no goal verdict.
MIN_REPS_FOR_VERDICT = 3


def charts(out, rows, jobs, allocs, reps):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    for key, label, fname in (("time_s", "time", "time.png"), ("peak_rss_kib", "peak RSS", "rss.png")):
        med, every = medians(rows, key), runs(rows, key)
        shown = [a for a in allocs if a != BASELINE]
        fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(jobs) + 2), 4.8))
        width = 0.8 / len(shown)
        seen = []
        for i, a in enumerate(shown):
            ys = [med[(j, a)] / med[(j, BASELINE)] if (j, a) in med and med.get((j, BASELINE)) else float("nan")
                  for j in jobs]
            seen += [y for y in ys if y == y and y > 0]
            xs = [k + (i - (len(shown) - 1) / 2) * width for k in range(len(jobs))]
            # Bars grow from 1x (as good as mimalloc), up for worse and down for better.
            ax.bar(xs, [y - 1.0 for y in ys], width, bottom=1.0, label=a)
            if reps >= 2:
                # Error bars: the lowest and the highest of the contender's runs, each over the
                # baseline's median (the bar's denominator), so the bar's top lies between them.
                lo, hi = [], []
                for j, y in zip(jobs, ys):
                    vs, base = every.get((j, a), []), med.get((j, BASELINE))
                    ok = y == y and base and len(vs) >= 2
                    lo.append(y - min(vs) / base if ok else 0.0)
                    hi.append(max(vs) / base - y if ok else 0.0)
                    if ok:
                        seen += [min(vs) / base, max(vs) / base]
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", elinewidth=0.7,
                            capsize=max(1.0, 12 * width), capthick=0.7)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        # Bars drawn from a bottom of 1 do not autoscale on a log axis: the limits are set here.
        if seen:
            ax.set_ylim(min(min(seen), 1.0) / 1.15, max(max(seen), 1.0) * 1.15)
        ax.yaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2, 3, 5, 10]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "%gx" % v))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.grid(axis="y", linewidth=0.3)
        ax.set_xticks(range(len(jobs)))
        ax.set_xticklabels(jobs, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("%s / %s's median (log scale, lower is better)" % (label, BASELINE))
        if reps == 1:
            ax.set_title("%s relative to %s (one run each)" % (label, BASELINE))
        else:
            ax.set_title("%s relative to %s: median of %d runs\nerror bars: each allocator's %s run, "
                         "over %s's median" % (label, BASELINE, reps, "fastest and slowest" if key == "time_s"
                                               else "lowest and highest", BASELINE), fontsize=10)
        ax.legend(fontsize=8, ncol=len(shown))
        fig.tight_layout()
        fig.savefig(os.path.join(out, fname), dpi=110)
        plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def add_site_modes(allocs, libs):
    """Makes the Site Rules modes among `allocs` contenders: libsacs.so with SACS_SITES set and
    SACS_STATS=json (for their prediction accuracy), and pins "sacs" to SACS_SITES=0 beside them."""
    modes = [a for a in allocs if a in SITE_MODES]
    for mode in modes:
        libs[mode] = libs["sacs"]
        CONTENDER_ENV[mode] = {"SACS_SITES": SITE_MODES[mode], "SACS_STATS": "json"}
    if modes:
        CONTENDER_ENV["sacs"]["SACS_SITES"] = "0"

CSV_FIELDS = ["job", "kind", "alloc", "rep", "order", "time_s", "wall_s", "peak_rss_kib", "final_rss_kib",
              "mean_rss_kib", "phases", "phase_rss_kib", "minor_faults",
              "ops_per_s", "sys_s", "user_s", "digest", "exit", "error"] + STAT_KEYS + SITE_KEYS + ["site_stats"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="scale 0.1, 1 repetition, small programs")
    ap.add_argument("--reps", type=int, help="repetitions (default 5, quick 1)")
    ap.add_argument("--scale", type=float, help="workload scale (default 1, quick 0.1)")
    ap.add_argument("--only", help="regular expression: run only the jobs whose name matches")
    ap.add_argument("--allocators", default=",".join(CONTENDER_LIBS), help="comma-separated subset")
    ap.add_argument("--no-charts", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--workload-bin", required=True)
    ap.add_argument("--sacs-lib", required=True)
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=LIB",
                    help="another preload library as a contender, e.g. an earlier build of SACS "
                         "(sacs-9f78ade=/tmp/libsacs-old.so); may be repeated")
    ap.add_argument("--sites", action="store_true",
                    help="Site Rules' modes as contenders: %s (libsacs.so with SACS_SITES=observe / on) "
                         "beside sacs, which runs with SACS_SITES=0" % ", ".join(SITE_MODES))
    ap.add_argument("--command", default="scripts/compare.sh")
    args = ap.parse_args()

    reps = args.reps or (1 if args.quick else 5)
    scale = args.scale or (0.1 if args.quick else 1.0)
    libs = dict(CONTENDER_LIBS)
    libs["sacs"] = os.path.abspath(args.sacs_lib)
    allocs = [a for a in args.allocators.split(",") if a]
    if args.sites:
        allocs += [m for m in SITE_MODES if m not in allocs]
    add_site_modes(allocs, libs)
    for extra in args.extra:
        name, sep, path = extra.partition("=")
        if not sep or not name or name in libs or not os.path.exists(path):
            sys.exit("compare: --extra wants NAME=LIB with a new name and an existing file: %r" % extra)
        libs[name] = os.path.abspath(path)
        allocs.append(name)
    for a in allocs:
        if a in libs and libs[a] and a not in CONTENDER_LIBS:
            continue  # an --extra library or a Site Rules mode
        if a not in libs:
            sys.exit("compare: unknown allocator %r" % a)
        if a != "sacs":
            libs[a] = find_lib(CONTENDER_LIBS[a])
            if not libs[a]:
                sys.exit("compare: %s is not installed (%s)" % (a, CONTENDER_LIBS[a]))
    global BASELINE
    if BASELINE not in allocs:
        BASELINE = allocs[0]

    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sacs-compare-")
    jobs = workload_jobs(args.workload_bin, scale) + program_jobs(work, args.quick)
    if args.only:
        jobs = [j for j in jobs if re.search(args.only, j.name)]
    total = reps * len(jobs) * len(allocs)
    rows, failures, expected = [], [], {}
    n = 0
    t0 = time.monotonic()
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as fcsv:
        w = csv.DictWriter(fcsv, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for rep in range(reps):
            for ji, job in enumerate(jobs):
                k = (rep + ji) % len(allocs)
                for oi, alloc in enumerate(allocs[k:] + allocs[:k]):
                    n += 1
                    # Statistics from the first repetition only (see CONTENDER_ENV).
                    stats = rep == 0 and wants_stats(alloc)
                    if job.kind == "server":
                        res = run_redis(job, alloc, libs, args.quick, stats)
                    else:
                        res = run_command(job, alloc, libs, stats)
                    if "error" not in res:
                        want = expected.setdefault(job.name, (res["digest"], alloc))
                        if res["digest"] != want[0]:
                            res["error"] = "output differs from the run under %s" % want[1]
                    row = {"job": job.name, "kind": job.kind, "alloc": alloc, "rep": rep + 1, "order": oi + 1}
                    row.update({k2: v for k2, v in res.items() if k2 not in ("stderr", "sacs_stats")})
                    if stats:
                        # A run that failed early has no statistics: zeros, as before.
                        row.update(res.get("sacs_stats") or sacs_stats(None))
                    if "error" in res:
                        failures.append("%s under %s (run %d): %s" % (job.name, alloc, rep + 1, res["error"]))
                        row.pop("time_s", None)
                        row.pop("peak_rss_kib", None)
                        row.pop("final_rss_kib", None)
                        for key in TRACE_KEYS:
                            row.pop(key, None)
                    w.writerow(row)
                    fcsv.flush()
                    rows.append(row)
                    el = time.monotonic() - t0
                    status = ("%.3f s, %.1f MiB" % (res["time_s"], res["peak_rss_kib"] / 1024)
                              if "error" not in res else "FAILED")
                    print("[%d/%d %3.0f s] %-18s %-9s run %d: %s" % (n, total, el, job.name, alloc, rep + 1, status),
                          file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)

    meta = {"command": args.command, "reps": reps,
            "mode": ("quick mode (scale %g): a smoke test that every run works and gives the same "
                     "results, not a measurement" % scale) if args.quick else "full mode (scale %g)" % scale,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": "%s, %d cores, %s" % (os.uname().machine, os.cpu_count(), os.uname().release),
            "sacs_commit": "SACS at " + subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                                       capture_output=True, text=True).stdout.strip()}
    names = [j.name for j in jobs]
    tg, rg = write_summary(os.path.join(args.out, "summary.md"), rows, names, allocs, meta)
    if not args.no_charts:
        charts(args.out, rows, names, allocs, reps)
    with open(os.path.join(args.out, "summary.md")) as f:
        print(f.read())
    exit_if_failed("compare", failures)


def exit_if_failed(tool, failures):
    """Lists the failed runs on standard error and exits with status 1, if there are any."""
    if failures:
        print("%s: %d failed runs:" % (tool, len(failures)), file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
