#!/usr/bin/env bash
# The main job from a fresh clone: installs missing packages, builds, runs examples/train_sweep on its embedded
# default data. Arguments go to train_sweep (see `build/examples/train_sweep --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFER_BUILD_TESTS=OFF -DFER_BUILD_BENCH=OFF
cmake --build build -j"$(nproc)" --target train_sweep
exec build/examples/train_sweep "$@"
