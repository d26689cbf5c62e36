#!/usr/bin/env bash
# Prepares, on this (Debian) machine, what scripts/gpu_session.sh needs on a GPU machine, which
# receives only the repository: two ignored folders to name in the device tool's `carry`.
#   .gpu-deps    the Debian .deb files the GPU machine lacks (TBB, SQLite, Google Benchmark)
#   .gpu-carry   Fashion-MNIST (train images as .xz: the 64 MiB transfer limit) and the parts of
#                ../shared the CUDA tests and benchmarks read
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
bash "$SHARED/gpu/fetch-debs.sh" .gpu-deps > /dev/null
grep -qxF "/.gpu-carry/" .git/info/exclude 2>/dev/null || echo "/.gpu-carry/" >> .git/info/exclude
dst=.gpu-carry
mkdir -p $dst/fashion-mnist $dst/shared/deepnets1m $dst/shared/reference
src=/usr/share/datasets/fashion-mnist
cp $src/train-labels-idx1-ubyte.gz $src/t10k-images-idx3-ubyte.gz $src/t10k-labels-idx1-ubyte.gz $dst/fashion-mnist/
rm -f $dst/fashion-mnist/train-images-idx3-ubyte.gz  # a dry run of gpu_session.sh unpacks it here
[ -s $dst/fashion-mnist/train-images-idx3-ubyte.xz ] ||
  zcat $src/train-images-idx3-ubyte.gz | xz -T2 -9 > $dst/fashion-mnist/train-images-idx3-ubyte.xz
cp -r "$SHARED/reference/ghn2_fixture" $dst/shared/reference/
for f in test val wide deep dense bnfree; do cp "$SHARED/deepnets1m/$f.json" $dst/shared/deepnets1m/; done
du -sh .gpu-deps $dst
(git ls-files; git ls-files --others --exclude-standard; find .gpu-deps $dst -type f) | xargs du -cb | tail -1 |
  awk '{printf "what travels: %.1f MiB of 64\n", $1 / 1048576}'
