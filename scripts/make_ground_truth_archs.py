#!/usr/bin/env python3
"""Writes the architecture list of the shipped Fashion-MNIST ground truth
(results/ground_truth/fashion_mnist_deepnets1m_archs.json).

The mix, never touching ../shared/deepnets1m/test.json (held out for evaluation):
  100 nets of val.json (ID), 40 each of wide/deep/dense/bnfree.json (OOD), and 100 fresh ID
  samples (`ghnas sample --space deepnets1m --n 100 --seed 2026`), shuffled with seed 0 so that a
  partial measurement is already a mix. Widths are cut so that SGD fits a 2-core CPU: C=8 for
  every net except wide ones, which get C=16 (keeping them twice as wide as the rest).
Each entry keeps its origin in "source" and "source_index" (ignored when ghnas reads the file).

Entries 360-999 extend the set the same way (so the first 360, measured first, never change):
200 more nets of val.json, 60 more each of wide/deep/dense/bnfree.json, and 200 fresh ID samples
(seed 2027), shuffled with seed 1.

Usage: python3 scripts/make_ground_truth_archs.py GHNAS_BINARY SHARED_DIR OUT
"""
import json
import random
import subprocess
import sys

ghnas, shared, out = sys.argv[1:4]
def fresh_samples(seed, n):
    return json.loads(subprocess.check_output(
        [ghnas, "sample", "--space", "deepnets1m", "--n", str(n), "--seed", str(seed)]))


def extension(rng, counts, taken, sample_seed, n_fresh):
    """Nets of the shared files not in `taken`, plus fresh samples, shuffled by `rng`."""
    entries = []
    for name, count in counts:
        nets = json.load(open(f"{shared}/deepnets1m/{name}.json"))
        free = [i for i in range(len(nets)) if (name, i) not in taken]
        for i in sorted(rng.sample(free, count)):
            taken.add((name, i))
            entries.append((name, i, {"genotype": nets[i]["genotype"], "net_args": nets[i]["net_args"]}))
    for i, net in enumerate(fresh_samples(sample_seed, n_fresh)):
        entries.append((f"sample-id-seed{sample_seed}", i, net))
    rng.shuffle(entries)
    return entries


taken = set()
entries = extension(random.Random(0), [("val", 100), ("wide", 40), ("deep", 40), ("dense", 40), ("bnfree", 40)],
                    taken, 2026, 100)
entries += extension(random.Random(1), [("val", 200), ("wide", 60), ("deep", 60), ("dense", 60), ("bnfree", 60)],
                     taken, 2027, 200)
archs = []
for source, i, net in entries:
    net["net_args"]["C"] = 16 if source == "wide" else 8
    archs.append({"source": source, "source_index": i, **net})
json.dump(archs, open(out, "w"), indent=0)
print(f"wrote {len(archs)} architectures to {out}")
