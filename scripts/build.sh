#!/usr/bin/env bash
# Installs the Debian packages ghnas needs (if missing), then configures and builds into build/.
#   BUILD_DIR=build-debug CMAKE_BUILD_TYPE=Debug scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$build_dir" -j "$jobs"
