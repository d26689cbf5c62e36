#!/usr/bin/env bash
# The main job on the embedded default: a real architecture search on DeepNets-1M for
# Fashion-MNIST, ranked by the GHN and property heads shipped in results/, in three fidelities:
# thousands of candidates by the heads, predicted-parameter accuracy for the best few dozen,
# 1 epoch of SGD for the top 3. Prints the winners with their measured accuracy; every candidate
# and score is in out/main.db (query it with `build/cli/ghnas query ... --db out/main.db`).
# Environment: OUT_DIR (default out), CANDIDATES (3000), SEED (0), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >&2  # keep stdout for the results
bin=build/cli/ghnas
out=${OUT_DIR:-out}
mkdir -p "$out"
export OMP_WAIT_POLICY=passive
# Networks are drawn at width C=8, the width the shipped ground truth (and so the heads) was
# measured at; SGD uses the ground truth's recipe (1 epoch over 10,000 training images). The
# predicted-parameter stage scores each candidate rebuilt at C=32, the width the GHN was trained
# at (search's default --predict-width): at C=8 its predicted parameters score at chance.
"$bin" search --space deepnets1m --space-option width=8 --task fashion-mnist --strategy random \
  --checkpoint results/ghn2_fashion_mnist.ckpt --heads results/heads_fashion_mnist.json \
  --candidates "${CANDIDATES:-3000}" --predict-top 24 --verify-top 3 --epochs 1 \
  --train-size 10000 --test-size 2000 --val-images 512 \
  --seed "${SEED:-0}" --threads "${THREADS:-2}" --db "$out/main.db" | tee "$out/main_winners.jsonl"
