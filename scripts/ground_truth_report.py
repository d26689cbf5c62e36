#!/usr/bin/env python3
"""Summarises the shipped Fashion-MNIST ground truth into results/ground_truth/README.md.

Usage: python3 scripts/ground_truth_report.py [JSONL] [ARCHS] > results/ground_truth/README.md
Reads the combined measurements (JSONL, written by scripts/merge_ground_truth.py combine), the
architecture list they came from (ARCHS, with each entry's source) and, for the agreement between
devices, the CPU and CUDA runs' databases beside JSONL. Kendall tau is tau-b (ties counted).
"""
import os
import json
import math
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from merge_ground_truth import ground_truth_rows  # noqa: E402
from collections import Counter, defaultdict

jsonl = sys.argv[1] if len(sys.argv) > 1 else "results/ground_truth/fashion_mnist_deepnets1m.jsonl"
archs_path = sys.argv[2] if len(sys.argv) > 2 else "results/ground_truth/fashion_mnist_deepnets1m_archs.json"
rows = [json.loads(l) for l in open(jsonl) if l.strip()]
archs = json.load(open(archs_path))


def tau_b(x, y):
    n = len(x)
    conc = disc = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif (dx > 0) == (dy > 0):
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return (conc - disc) / denom if denom else float("nan")


def mean_std(v):
    m = sum(v) / len(v)
    s = math.sqrt(sum((a - m) ** 2 for a in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s


ok = [r for r in rows if r.get("status") == "ok"]
by_source = Counter(archs[r["index"]]["source"] for r in rows)
by_device = Counter(r["sgd_device"] for r in rows)
fields = ["clean_acc", "noisy_acc", "latency_ms", "convergence", "params", "flops", "train_seconds"]
d = os.path.dirname(jsonl)
cpu_db, cuda_db = f"{d}/fashion_mnist_deepnets1m.db", f"{d}/fashion_mnist_deepnets1m_cuda.db"
print("# Fashion-MNIST ground truth for DeepNets-1M architectures (SGD from scratch)\n")
print(f"`fashion_mnist_deepnets1m.jsonl`: **{len(rows)} of {len(archs)}** architectures measured so far "
      f"({len(ok)} ok, {len(rows) - len(ok)} diverged or failed): "
      + ", ".join(f"{n} trained on {dev}" for dev, n in sorted(by_device.items()))
      + ". The measurement is resumable on both kinds of machine and continues in later sessions.\n")
print("## What was measured, and how\n")
print("- Architectures: `fashion_mnist_deepnets1m_archs.json` (made by `scripts/make_ground_truth_archs.py`): "
      "entries 0-359 are 100 nets of val.json (ID), 40 each of wide/deep/dense/bnfree.json (OOD) and 100 fresh "
      "ID samples (seed 2026), shuffled; entries 360-999 add 200 val, 60 each OOD and 200 fresh samples (seed "
      "2027), shuffled; none from test.json. Widths cut to fit a CPU: C=8 (wide: C=16).")
print("- Training, the same recipe on both devices: SGD, momentum 0.9, lr 0.05 with per-step cosine decay, "
      "weight decay 3e-4, gradient clip 5, batch 64, 1 epoch over the first 10,000 training images (156 "
      "steps), seed 0. Test metrics on the first 2,000 test images. `sgd_device` says where a row was "
      "trained: `cpu` = this 2-core machine, 1 torch thread (`scripts/ground_truth_fashion_mnist.sh`, run "
      "in `fashion_mnist_deepnets1m.db`); `cuda` = an H200, 8 processes at once (`scripts/gpu_session.sh`, "
      "run in `fashion_mnist_deepnets1m_cuda.db`). A network measured on both keeps its CPU row.")
print("- `clean_acc`: test accuracy (%). `noisy_acc`: the same images with Gaussian noise of sigma 0.2 added "
      "to the [0, 1] pixels, clipped (the Fashion-MNIST setting; 0.08 is CIFAR-10's).")
print("- `latency_ms`: median of 10 forward passes of a batch of 64 random images after 3 warm-ups, 1 thread, "
      "all rows timed on this 2-core machine by `ghnas latency` "
      "(`fashion_mnist_deepnets1m_latency.jsonl`), so the column compares across rows; other jobs "
      "(the CPU ground truth, a compiler) shared the two cores meanwhile, which adds noise. "
      "`latency_ms_at_training` is what the training run timed, on its own machine and load.")
print("- `convergence`: with the training loss smoothed by a trailing mean over max(5, 2% of steps) steps, the "
      "first step from which it stays below 0.5 ln(10) (half a uniform guess's loss) until the end, as a "
      "fraction of the steps; lower is faster, 1 means never.\n")
print("## Summary\n")
print("| source | measured |\n|---|---:|")
for s, n in sorted(by_source.items()):
    print(f"| {s} | {n} |")
print()
print("| field (ok rows) | mean | std | min | max |\n|---|---:|---:|---:|---:|")
for f in fields:
    v = [r[f] for r in ok if isinstance(r.get(f), (int, float))]
    if v:
        m, s = mean_std(v)
        print(f"| {f} | {m:.4g} | {s:.3g} | {min(v):.4g} | {max(v):.4g} |")
print()
if len(ok) >= 3:
    t = tau_b([r["clean_acc"] for r in ok], [r["noisy_acc"] for r in ok])
    print(f"Kendall tau-b(clean_acc, noisy_acc) over the {len(ok)} ok rows: **{t:.3f}** at sigma 0.2.\n")
if os.path.exists(cpu_db) and os.path.exists(cuda_db):
    cpu, cuda = ground_truth_rows(cpu_db), ground_truth_rows(cuda_db)
    both = [h for h in cpu if h in cuda and cpu[h][1].get("status") == "ok" and cuda[h][1].get("status") == "ok"]
    if len(both) >= 3:
        print(f"### The same networks measured twice\n\n{len(both)} networks were trained both on the CPU and on "
              "the GPU with the same seed and recipe (only floating-point rounding differs). How well the two "
              "measurements rank them:\n")
        print("| field | Kendall tau-b, CPU run vs CUDA run |\n|---|---:|")
        for f in ["clean_acc", "noisy_acc", "convergence"]:
            print(f"| {f} | {tau_b([cpu[h][1][f] for h in both], [cuda[h][1][f] for h in both]):.3f} |")
        t_cn = tau_b([cpu[h][1]["clean_acc"] for h in both], [cpu[h][1]["noisy_acc"] for h in both])
        print(f"\nOn the same networks, tau-b(clean_acc, noisy_acc) within the CPU run is {t_cn:.3f}. "
              "A one-epoch measurement is itself noisy: repeating it ranks networks about as differently "
              "as clean and noisy accuracy differ at sigma 0.2, so noisy accuracy at this sigma is close to a "
              "second measurement of clean accuracy. A larger sigma (0.3-0.4: tau 0.78-0.69 against clean in "
              "the sigma study of results/executor_throughput.md) or longer training would separate them; "
              "changing either means measuring every row again.\n")
print("## Commands\n")
print("```sh\n"
      "bash scripts/ground_truth_fashion_mnist.sh     # CPU rows: measure / resume\n"
      "bash scripts/gpu_prepare.sh                    # GPU rows: then scripts/gpu_session.sh on the GPU machine,\n"
      "python3 scripts/merge_ground_truth.py merge results/ground_truth/fashion_mnist_deepnets1m_cuda.db gt/shard-*.db\n"
      "# latency of every measured row, on this machine (ranges of measured indices)\n"
      "ghnas latency --space deepnets1m --task fashion-mnist --archs results/ground_truth/fashion_mnist_deepnets1m_archs.json \\\n"
      "  --from A --to B --threads 1 --runs 10 >> results/ground_truth/fashion_mnist_deepnets1m_latency.jsonl\n"
      "python3 scripts/merge_ground_truth.py combine results/ground_truth/fashion_mnist_deepnets1m.jsonl \\\n"
      "  results/ground_truth/fashion_mnist_deepnets1m_archs.json results/ground_truth/fashion_mnist_deepnets1m_latency.jsonl \\\n"
      "  results/ground_truth/fashion_mnist_deepnets1m.db results/ground_truth/fashion_mnist_deepnets1m_cuda.db\n"
      "python3 scripts/ground_truth_report.py > results/ground_truth/README.md\n```")
