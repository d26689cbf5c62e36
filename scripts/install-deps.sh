#!/usr/bin/env bash
# Installs everything ghnas needs to build, test and run on Debian 12.
# Safe to run again: apt skips what is already there.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev libtbb-dev libboost-graph-dev libeigen3-dev libsqlite3-dev
  libopenblas0-openmp libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev zlib1g-dev
  dataset-fashion-mnist sqlite3 libopenmpi-dev openmpi-bin
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
