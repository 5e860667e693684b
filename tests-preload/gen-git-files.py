"""Writes the files of the git case of scripts/preload-tests.sh: SOURCE/stage1, stage2 and
stage3, each a few hundred deterministic text files in ten directories; each stage edits,
adds and removes some files of the one before."""
import os
import random
import sys

root = sys.argv[1]
rng = random.Random(42)
WORDS = ["alloc", "free", "page", "segment", "tier", "slab", "whale", "cache", "heap",
         "thread", "fork", "purge", "warm", "cold", "hot", "class", "block", "span"]

files = {}
for i in range(320):
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 14)))
             for _ in range(rng.randrange(2, 400))]
    files["d%d/f%04d.txt" % (i % 10, i)] = lines


def write(stage):
    for path, lines in files.items():
        full = os.path.join(root, stage, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write("\n".join(lines) + "\n")


write("stage1")
for i in rng.sample(sorted(files), 60):
    files[i] = files[i][:] + ["edit %d %s" % (k, rng.choice(WORDS)) for k in range(5)]
for i in range(320, 380):
    files["d%d/f%04d.txt" % (i % 10, i)] = ["new file %d line %d" % (i, k) for k in range(50)]
write("stage2")
for i in rng.sample(sorted(files), 25):
    del files[i]
for i in rng.sample(sorted(files), 40):
    files[i] = list(reversed(files[i]))
write("stage3")
