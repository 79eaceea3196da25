#!/usr/bin/env bash
# Builds fer's CPU microbenchmarks, runs them (JSON), runs the PyTorch peer on the same shapes, and prints
# one table: shape | fer GFLOP/s | torch GFLOP/s | fer/torch | fraction of the measured FMA peak.
#
#   tools/run_cpu_bench.sh                  # build dir /tmp/build_fer_bench, default -march (x86-64-v3)
#   BUILD_DIR=/tmp/b FER_MARCH=native ROUNDS=3 REPS=3 tools/run_cpu_bench.sh
#
# fer and PyTorch run in alternating rounds so that both meet the same background load (the machine is
# shared); the table takes the best repetition over all rounds. Results (JSON per round and the table) are
# left in $BUILD_DIR/bench_results/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-/tmp/build_fer_bench}
reps=${REPS:-3}
rounds=${ROUNDS:-3}
out=$build/bench_results
march_arg=()
if [[ -n "${FER_MARCH+x}" ]]; then march_arg=(-DFER_MARCH="$FER_MARCH"); fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFER_WITH_CUDA=OFF -DFER_BUILD_BENCH=ON \
  -DFER_BUILD_TESTS=OFF -DFER_BUILD_EXAMPLES=OFF "${march_arg[@]}" >/dev/null
make -C "$build" -j2 bench_peak bench_gemm bench_conv >/dev/null
mkdir -p "$out"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

rm -f "$out"/*.json
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
for ((round = 1; round <= rounds; ++round)); do
  for b in bench_peak bench_gemm bench_conv; do
    echo "round $round: $b ..." >&2
    "$build/bench/$b" --benchmark_repetitions="$reps" --benchmark_min_time=0.2 \
      --benchmark_out="$out/$b.$round.json" --benchmark_out_format=json >/dev/null
  done
  echo "round $round: PyTorch peer ..." >&2
  /usr/bin/python3 "$root/tools/bench_torch_peer.py" --repetitions "$reps" --min-time 0.2 \
    --json "$out/torch.$round.json" >/dev/null
done

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
    "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "fer: $(git -C "$root" rev-parse --short HEAD), -march=$(grep -m1 '^FER_MARCH:' "$build/CMakeCache.txt" | cut -d= -f2)"
  echo
  /usr/bin/python3 "$root/bench/make_table.py" --fer "$out"/bench_peak.*.json "$out"/bench_gemm.*.json "$out"/bench_conv.*.json --torch "$out"/torch.*.json
} | tee "$out/table.md"
