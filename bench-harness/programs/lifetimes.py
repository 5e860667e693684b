"""The python3-lifetimes program of scripts/compare.sh: a large structure built and dropped while
a small one, made alongside it, lives on.

It models a script that loads a data set, keeps an index of part of it and discards the rest:
records (a tuple each, holding strings, a bytes object and a list of more than 512 bytes, so
that CPython asks malloc for them instead of serving them from its own small-object pools) are built in one
pass, and every 20th record's key and the head of its values are copied into an index that
outlives them. The records are then used (sorted and grouped, with temporaries), dropped, and the
program idles for a moment, as the workloads' settle() does, before its last RSS reading. Under
a size-class allocator the index's blocks sit among the records' on the same pages, so the
memory of the dropped records cannot all be given back.

Every allocation goes through CPython's few malloc call sites, whatever the object: an
allocator that learns by call site sees one mixed site here, which is what many real programs
look like.

    python3 lifetimes.py [RECORDS]        (default 20000)

Prints two lines. The first, `lifetimes.py records=N index=M digest=...`, is the same under
every allocator (compare.py checks it). The second carries the resident set, read from
/proc/self/statm: `phases=build/use/drop/idle phase_rss_kib=a/b/c/d mean_rss_kib=m
rss_samples=n`, the resident set at the end of each phase and its time-weighted mean over the
run (a reading every 256 records and at every phase's end, each weighted by the time until the
next one).
"""
import gc
import hashlib
import os
import random
import sys
import time

# How long the idle phase lasts: the workloads' SETTLE (bench-harness/src/bin/workload/common.rs).
SETTLE_S = 0.25

# One record in this many is indexed.
INDEX_EVERY = 20

# Records between two readings of the resident set.
TRACE_EVERY = 256


class RssTrace:
    """The resident set at each phase's end, and its time-weighted mean over the run."""

    def __init__(self):
        self.fd = os.open("/proc/self/statm", os.O_RDONLY)
        self.page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
        self.start = time.perf_counter()
        self.last = (0.0, self.read_kib())
        self.area = 0.0
        self.samples = 1
        self.phases = []

    def read_kib(self):
        return int(os.pread(self.fd, 128, 0).split()[1]) * self.page_kib

    def sample(self):
        kib = self.read_kib()
        now = time.perf_counter() - self.start
        then, before = self.last
        self.area += before * (now - then)
        self.last = (now, kib)
        self.samples += 1
        return kib

    def end_phase(self, name):
        self.phases.append((name, self.sample()))

    def line(self):
        self.sample()
        span, last = self.last
        mean = self.area / span if span > 0 else last
        return "phases=%s phase_rss_kib=%s mean_rss_kib=%d rss_samples=%d" % (
            "/".join(n for n, _ in self.phases), "/".join(str(k) for _, k in self.phases),
            round(mean), self.samples)


def record(rng, text, i):
    """One record of the large structure: ~5.5 KB in four blocks of more than 512 bytes (two
    strings, a bytes object, a list of small ints, which CPython shares rather than allocates)
    and a small tuple."""
    start = rng.randrange(0, len(text) - 4000)
    return (
        "k%08d-" % i + text[start:start + rng.randrange(520, 1500)],
        text[start + 7:start + 7 + rng.randrange(600, 3000)],
        rng.randbytes(rng.randrange(600, 2400)),
        list(rng.randbytes(rng.randrange(70, 300))),
    )


def build(rng, text, n, trace):
    """The records, and the index of every INDEX_EVERY-th one (made as its record is)."""
    records, index = [], {}
    for i in range(n):
        rec = record(rng, text, i)
        records.append(rec)
        if i % INDEX_EVERY == 0:
            key, _, _, values = rec
            index[key[:9]] = (key + "#", values[:80])
        if i % TRACE_EVERY == 0:
            trace.sample()
    return records, index


def use(records, digest, trace):
    """Sorts and groups the records, making short-lived temporaries, and digests the result."""
    by_score = sorted(records, key=lambda r: (sum(r[3][:8]), r[0][:9]))
    groups = {}
    for k, (_, body, blob, values) in enumerate(by_score):
        groups.setdefault(values[0] % 16, []).append(body[:600] + "|" + blob[:8].hex())
        if k % TRACE_EVERY == 0:
            trace.sample()
    for g in sorted(groups):
        digest.update(("%d:%d:%d" % (g, len(groups[g]), sum(map(len, groups[g])))).encode())
    digest.update(str(sum(len(key) + len(body) + len(blob) for key, body, blob, _ in records)).encode())


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rng = random.Random(20261201)
    text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(1 << 16))
    digest = hashlib.sha256()
    trace = RssTrace()

    records, index = build(rng, text, n, trace)
    trace.end_phase("build")
    use(records, digest, trace)
    trace.end_phase("use")
    del records
    gc.collect()
    trace.end_phase("drop")
    trace.sample()
    time.sleep(SETTLE_S)
    trace.sample()
    poke = bytearray(4096)  # one allocation and free after the pause, as settle() makes
    del poke
    trace.end_phase("idle")

    for key in sorted(index):
        full, values = index[key]
        digest.update(full.encode())
        digest.update(bytes(v % 256 for v in values))
    print("lifetimes.py records=%d index=%d digest=%s" % (n, len(index), digest.hexdigest()))
    print(trace.line())


if __name__ == "__main__":
    main()
