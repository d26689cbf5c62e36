#!/usr/bin/env bash
# The main job on the embedded default. Until the GHN surrogate and the search land, it is the
# most useful real job ghnas can do end to end: draw fresh DeepNets-1M architectures of every
# variant, build each network for Fashion-MNIST, and describe it (parameters, FLOPs, and its
# GHN-2 graph with virtual edges), writing everything under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bin=build/cli/ghnas
out=${OUT_DIR:-out}
mkdir -p "$out"
for variant in id wide deep dense bnfree; do
  "$bin" sample --space deepnets1m --variant "$variant" --n 200 --seed 1 --out "$out/deepnets1m_$variant.json"
  "$bin" describe --space deepnets1m --task fashion-mnist --archs "$out/deepnets1m_$variant.json" \
    --summary > "$out/deepnets1m_${variant}_described.jsonl"
done
"$bin" sample --space nasbench201 --n 200 --seed 1 --out "$out/nasbench201.txt"
"$bin" describe --space nasbench201 --task fashion-mnist --archs "$out/nasbench201.txt" \
  --summary > "$out/nasbench201_described.jsonl"
echo "architectures and their descriptions are in $out/"
