"""An allocation-heavy, threaded Python program for scripts/preload-tests.sh.

Eight threads build dicts, lists, sets and strings, round-trip them through json, sort and
hash them. Every thread works on its own deterministic data and the results are combined in
thread order, so the output is the same with and without LD_PRELOAD=libsacs.so.
"""
import hashlib
import json
import random
import threading

THREADS = 8
ROUNDS = 20


def work(tid, results):
    rng = random.Random(1000 + tid)
    digest = hashlib.sha256()
    keep = []
    for r in range(ROUNDS):
        doc = {
            "thread": tid,
            "round": r,
            "items": [
                {
                    "id": i,
                    "name": "item-%d-%d-%s" % (tid, i, "x" * rng.randrange(0, 64)),
                    "tags": sorted({rng.choice("abcdefghij") * rng.randrange(1, 8) for _ in range(6)}),
                    "value": rng.random(),
                    "blob": "".join(chr(97 + rng.randrange(26)) for _ in range(rng.randrange(0, 300))),
                }
                for i in range(rng.randrange(50, 150))
            ],
            "matrix": [[rng.randrange(1000) for _ in range(20)] for _ in range(20)],
        }
        text = json.dumps(doc, sort_keys=True)
        back = json.loads(text)
        assert back == doc
        index = {item["name"]: item for item in back["items"]}
        words = " ".join(sorted(index)).split()
        counts = {}
        for w in words:
            key = w.split("-")[2]
            counts[key] = counts.get(key, 0) + len(w)
        big = [bytes(rng.randrange(256) for _ in range(rng.randrange(1000, 5000)))]
        if r % 10 == 0:
            big.append(b"z" * rng.randrange(40000, 400000))  # larger blocks, now and then
        digest.update(text.encode())
        digest.update(json.dumps(counts, sort_keys=True).encode())
        for b in big:
            digest.update(hashlib.sha1(b).digest())
        keep.append(text[: rng.randrange(10, 5000)])
        if len(keep) > 20:
            del keep[: len(keep) // 2]
    digest.update("".join(keep).encode())
    results[tid] = digest.hexdigest()


def main():
    results = [None] * THREADS
    threads = [threading.Thread(target=work, args=(t, results)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tid, h in enumerate(results):
        print("thread %d %s" % (tid, h))
    print("all", hashlib.sha256("".join(results).encode()).hexdigest())


if __name__ == "__main__":
    main()
