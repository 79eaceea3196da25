#!/usr/bin/env bash
# Builds fer's CUDA benchmarks, runs them on GPU 0 (JSON), runs the PyTorch peer on the same GPU, and prints one
# markdown table: benchmark | unit | fer | torch | fer/torch | fraction of the measured copy ceiling.
#
#   tools/run_cuda_bench.sh                       # build dir /tmp/build_fer_cuda_bench, sm_80 + sm_90
#   BUILD_DIR=/tmp/b REPS=5 STEPS=50 FER_CUDA_ARCHITECTURES=90 PYTHON=python3 tools/run_cuda_bench.sh
#   FILTER='relu|batch_norm' tools/run_cuda_bench.sh  # only matching kernel rows (a --benchmark_filter regex; the
#                                                      # peer keeps the rows fer produced) and no training rows
#
# fer runs first, then PyTorch (one GPU, nothing else should run on it). Results (JSON and the table) are left in
# $BUILD_DIR/bench_results/. Without a CUDA device the benchmarks skip and the script stops after saying so.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-/tmp/build_fer_cuda_bench}
reps=${REPS:-3}
steps=${STEPS:-30}
archs=${FER_CUDA_ARCHITECTURES:-80-real;90}
python=${PYTHON:-python3}
filter=${FILTER:-}
out=$build/bench_results

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFER_WITH_CUDA=ON -DFER_BUILD_BENCH=ON \
  -DFER_BUILD_TESTS=OFF -DFER_BUILD_EXAMPLES=OFF -DFER_CUDA_ARCHITECTURES="$archs" >/dev/null
if ! cmake --build "$build" -j"${JOBS:-$(nproc)}" --target bench_cuda_kernels bench_backbones >/dev/null; then
  echo "run_cuda_bench: build failed (is the CUDA toolkit with cuDNN found? see cmake's 'fer: CUDA backend' line)" >&2
  exit 1
fi
mkdir -p "$out"
rm -f "$out"/*.json "$out/table.md"

kernel_filter=()
if [[ -n "$filter" ]]; then kernel_filter=(--benchmark_filter="$filter"); fi
echo "fer kernels ..." >&2
"$build/bench/bench_cuda_kernels" --benchmark_repetitions="$reps" "${kernel_filter[@]}" \
  --benchmark_out="$out/kernels.json" --benchmark_out_format=json >&2
if [[ ! -s "$out/kernels.json" ]]; then
  echo "run_cuda_bench: no CUDA device: nothing measured" >&2
  exit 0
fi
fer_json=("$out/kernels.json")
if [[ -z "$filter" ]]; then
  echo "fer training ..." >&2
  rm -f "$out/train.jsonl"
  for amp in off bf16; do
    "$build/bench/bench_backbones" --device cuda --modes train --sizes 64 --train-batch 256 --optimizer adamw --eager \
      --amp "$amp" --warmup 5 --iters "$steps" --json "$out/train.jsonl" \
      --models resnet18,resnet50,efficientnet_b0,mobilenet_v3_large,shufflenet_v2_x1_0,densenet121,convnext_tiny >&2
  done
  fer_json+=("$out/train.jsonl")
fi

echo "PyTorch peer ..." >&2
peer_args=(--repetitions "$reps" --steps "$steps" --json "$out/torch.json")
if [[ -n "$filter" ]]; then peer_args+=(--only kernels); fi
"$python" "$root/tools/bench_cuda_peer.py" "${peer_args[@]}" >&2

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); fer: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "CUDA architectures $archs; $reps repetitions, $steps training steps each"
  if command -v nvidia-smi >/dev/null; then
    echo "GPU: $(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader | head -1)"
  fi
  echo
  "$python" "$root/tools/bench_cuda_peer.py" --table --fer "${fer_json[@]}" --torch "$out/torch.json"
} | tee "$out/table.md"
