#!/usr/bin/env bash
# The test command: installs missing packages, builds everything (CUDA code too when a toolkit is found) in
# build/, and runs the whole CTest suite. Extra arguments go to ctest (e.g. -R conv). Then the parsers' fuzz targets
# (tools/run_fuzz.sh: build-fuzz/, regression corpus, FER_FUZZ_SECONDS per target, default 20; 0 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFER_BUILD_TESTS=ON -DFER_BUILD_EXAMPLES=ON -DFER_BUILD_BENCH=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900 "$@"
fuzz_seconds=${FER_FUZZ_SECONDS:-20}
if ((fuzz_seconds > 0)); then tools/run_fuzz.sh "$fuzz_seconds"; fi
