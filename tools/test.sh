#!/usr/bin/env bash
# The test command: installs missing packages, builds everything (CUDA code too when a toolkit is found) in
# build/, and runs the whole CTest suite. Extra arguments go to ctest (e.g. -R conv). Then the parsers' fuzz targets,
# reproducibly (tools/run_fuzz.sh in build-fuzz/: the regression corpus, then FER_FUZZ_RUNS inputs per target from a
# fixed seed, default 50000; 0 skips them). Open-ended fuzzing is `tools/run_fuzz.sh SECONDS`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFER_BUILD_TESTS=ON -DFER_BUILD_EXAMPLES=ON -DFER_BUILD_BENCH=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900 "$@"
fuzz_runs=${FER_FUZZ_RUNS:-50000}
if ((fuzz_runs > 0)); then FER_FUZZ_RUNS=$fuzz_runs tools/run_fuzz.sh; fi
