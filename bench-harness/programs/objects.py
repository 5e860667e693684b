"""The python3 program of scripts/compare.sh: an allocation-heavy, single-threaded script.

It builds a document of nested dicts, lists and strings, round-trips it through json, sorts,
groups and hashes it, and keeps a growing cache with evictions, the way a web handler or a data
script churns objects. CPython serves objects up to 512 bytes from its own pools (pymalloc), so
the allocator under test sees the larger strings, lists, dicts and the pools' arenas.

    python3 objects.py [ROUNDS]      prints one digest line, the same under every allocator
"""
import hashlib
import json
import random
import sys


def document(rng, n):
    return [
        {
            "id": i,
            "name": "user-%d-%s" % (i, "x" * rng.randrange(0, 80)),
            "tags": sorted({rng.choice("abcdefgh") * rng.randrange(1, 6) for _ in range(5)}),
            "score": rng.random(),
            "bio": ("word%d " % rng.randrange(100)) * rng.randrange(0, 200),
            "history": [rng.randrange(1000) for _ in range(rng.randrange(0, 60))],
        }
        for i in range(n)
    ]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    rng = random.Random(20261122)
    digest = hashlib.sha256()
    cache = {}
    for r in range(rounds):
        doc = document(rng, 3000)
        text = json.dumps(doc, sort_keys=True)
        back = json.loads(text)
        assert back == doc, "json round trip changed the document"
        back.sort(key=lambda d: (d["score"], d["id"]))
        groups = {}
        for d in back:
            groups.setdefault(d["tags"][0] if d["tags"] else "", []).append(d["name"])
        for key in sorted(groups):
            digest.update(key.encode())
            digest.update("|".join(groups[key]).encode())
        for d in back[:600]:
            cache[(r, d["id"])] = d["bio"] * 3
        while len(cache) > 2500:
            cache.pop(next(iter(cache)))
        digest.update(str(sum(len(v) for v in cache.values())).encode())
    print("objects.py rounds=%d digest=%s" % (rounds, digest.hexdigest()))


if __name__ == "__main__":
    main()
