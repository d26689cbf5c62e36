#!/usr/bin/env bash
# Builds ghnas and runs every test (GoogleTest through CTest). Reference data is read from
# ../shared beside the repository (set GHNAS_SHARED_DIR to use another copy).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ctest --test-dir "${BUILD_DIR:-build}" -j "${JOBS:-2}" --output-on-failure
