#!/usr/bin/env bash
# Measures (or resumes measuring) the shipped Fashion-MNIST ground truth:
#   results/ground_truth/fashion_mnist_deepnets1m_cpu.jsonl   one JSON line per network measured here
#   results/ground_truth/fashion_mnist_deepnets1m.db      the results database it is kept from
# Safe to interrupt at any time (even kill -9): running it again continues where it stopped and
# measures nothing twice. The architectures are results/ground_truth/fashion_mnist_deepnets1m_archs.json
# (scripts/make_ground_truth_archs.py documents the mix). THREADS (default 1) sets torch threads.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GHNAS_BIN:-build/cli/ghnas}
[ -x "$BIN" ] || bash scripts/build.sh
dir=results/ground_truth
export OMP_WAIT_POLICY=passive
exec "$BIN" ground-truth --space deepnets1m --task fashion-mnist \
  --archs $dir/fashion_mnist_deepnets1m_archs.json \
  --epochs 1 --batch-size 64 --lr 0.05 --train-size 10000 --val-size 0 --test-size 2000 \
  --threads "${THREADS:-1}" --seed 0 \
  --db $dir/fashion_mnist_deepnets1m.db --jsonl $dir/fashion_mnist_deepnets1m_cpu.jsonl
