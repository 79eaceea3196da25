#!/usr/bin/env bash
# fer vs the current PyTorch release on the study backbones, CPU: training step (batch 32) at 48 and 64 px and eval
# forward (batch 64) at 48, 64 and 224 px, fer's bench/bench_backbones against tools/bench_backbones_peer.py.
#
#   tools/run_backbone_bench.sh                   # all eight models, 3 rounds (224 px: 2), 2 threads, build dir ./build
#   MODELS=resnet18,densenet121 ROUNDS=5 COMPILE=0 tools/run_backbone_bench.sh
#   FAST=1 tools/run_backbone_bench.sh            # fewer timed steps (a loaded machine)
#   WARMUP=1 ITERS=1 tools/run_backbone_bench.sh  # the same counts everywhere (the rounds still pair and repeat)
#   TRAIN_SIZES="48 64" EVAL_SIZES="224" OUT=/tmp/b224 tools/run_backbone_bench.sh   # a part of the grid
#   NO_FOLD=1 tools/run_backbone_bench.sh         # fer's eval forward with batch norm not folded into the convs
#
# PyTorch comes from PyPI (`pip install torch torchvision`, the current release) into a virtual environment of its
# own ($VENV, default .venv-bench/, git-ignored), created on first use: a benchmark-only tool dependency, never a
# build or runtime one.
# The machine may be shared, so every configuration runs fer and PyTorch alternately, ROUNDS times in a row
# (fer, torch, fer, torch, ...), and the table gives the median over rounds of the paired ratio
# fer images/s / torch images/s, with its range. PyTorch runs channels_last and contiguous in round 1; later
# rounds use the faster of the two. 224 px eval runs ROUNDS_224 rounds (default 2: it is the slowest part).
# With COMPILE=1 (default), torch.compile (inductor) runs once per model of COMPILE_MODELS (default: all) at 64 px
# after the rounds, as a second peer (its compile time is excluded; the ratio uses fer's median over rounds).
# The load average is recorded before each configuration. Everything lands in $OUT (default
# $BUILD_DIR/backbone_bench): JSON lines per round and table.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build}
venv=${VENV:-$root/.venv-bench}
rounds=${ROUNDS:-3}
rounds_224=${ROUNDS_224:-2}
fast=${FAST:-0}
threads=${THREADS:-2}
models=${MODELS:-resnet18,resnet50,efficientnet_b0,mobilenet_v3_large,shufflenet_v2_x1_0,densenet121,convnext_tiny,custom_cnn}
compile=${COMPILE:-1}
train_sizes=${TRAIN_SIZES-48 64}
eval_sizes=${EVAL_SIZES-48 64 224}
compile_models=${COMPILE_MODELS:-$models}
out=${OUT:-$build/backbone_bench}
per_run_timeout=${RUN_TIMEOUT:-900}
# fer's eval forward folds conv -> batch-norm pairs into one conv, as its evaluate, predict and verify do;
# PyTorch's eager eval runs them apart.
fold_flag=()
if [[ -n ${NO_FOLD:-} ]]; then fold_flag=(--no-fold); fi

if ! "$venv/bin/python" -c 'import torch, torchvision' 2>/dev/null; then
  echo "creating $venv with the current torch + torchvision from PyPI (benchmark only) ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --upgrade torch torchvision >&2
fi
py="$venv/bin/python"

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFER_WITH_CUDA=OFF -DFER_BUILD_BENCH=ON \
    -DFER_BUILD_TESTS=OFF -DFER_BUILD_EXAMPLES=OFF >/dev/null
fi
if [[ -z ${SKIP_BUILD:-} ]]; then cmake --build "$build" -j2 --target bench_backbones >/dev/null; fi
fer="$build/bench/bench_backbones"
[[ -x $fer ]] || { echo "run_backbone_bench: $fer was not built" >&2; exit 1; }

mkdir -p "$out"
rm -f "$out"/*.jsonl "$out"/load.txt
export OMP_NUM_THREADS=$threads
# Both fer and PyTorch run OpenMP (GNU libgomp). Its default spin-waiting at every join turned a 2-thread step into
# 5x its time while other processes held the cores (measured: fer's ResNet-18 step 6.4 s spinning vs 1.3 s
# passive at load 10); sleeping waits measure the kernels, not the scheduler. Same setting for both sides.
# OMP_WAIT_POLICY=default runs both with libgomp's own default (spin a while at each join, then sleep): what a user
# gets, and on an idle machine the faster choice, most of all for the small models' many short regions.
if [[ ${OMP_WAIT_POLICY:-} == default ]]; then unset OMP_WAIT_POLICY; else export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}; fi

# warm-up and timed steps per configuration: fewer for the big models and for 224 px.
iters_for() {  # model mode size -> "warmup iters"
  if [[ -n ${ITERS:-} ]]; then
    echo "${WARMUP:-1} $ITERS"
    return
  fi
  local big=0
  case $1 in resnet50 | densenet121 | convnext_tiny) big=1 ;; esac
  if [[ $3 -ge 224 ]]; then
    if ((big || fast)); then echo "1 1"; else echo "1 2"; fi
  elif ((fast)); then
    if ((big)); then echo "1 2"; else echo "1 3"; fi
  elif ((big)); then
    echo "2 4"
  else
    echo "2 6"
  fi
}

configs=()
IFS=, read -ra model_list <<<"$models"
for m in "${model_list[@]}"; do
  for s in $train_sizes; do configs+=("$m train $s"); done
  for s in $eval_sizes; do configs+=("$m eval $s"); done
done

load() { cut -d' ' -f1-3 /proc/loadavg; }
start_date=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git -C "$root" rev-parse --short HEAD)  # what the binary was built from (before the long run)
dirty=$(git -C "$root" status --porcelain --untracked-files=no | grep -q . && echo " (with uncommitted changes)" || true)
declare -A layout_of
for cfg in "${configs[@]}"; do  # per configuration: fer, torch, fer, torch, ... so each pair meets the same load
  read -r m mode s <<<"$cfg"
  read -r warm iters <<<"$(iters_for "$m" "$mode" "$s")"
  n_rounds=$rounds
  if ((s >= 224)); then n_rounds=$rounds_224; fi
  echo "$m $mode ${s}px: $(load)" >>"$out/load.txt"
  for ((round = 1; round <= n_rounds; ++round)); do
    echo "round $round: $m $mode ${s}px" >&2
    timeout "$per_run_timeout" "$fer" --models "$m" --modes "$mode" --sizes "$s" --warmup "$warm" --iters "$iters" \
      ${fold_flag[@]+"${fold_flag[@]}"} --json "$out/fer.$round.jsonl" >/dev/null
    layouts=${layout_of[$cfg]:-channels_last,contiguous}
    timeout "$per_run_timeout" "$py" "$root/tools/bench_backbones_peer.py" --model "$m" --mode "$mode" --size "$s" \
      --warmup "$warm" --iters "$iters" --threads "$threads" --layouts "$layouts" --json "$out/torch.$round.jsonl" >/dev/null
    if ((round == 1)); then  # keep the faster layout for the later rounds
      layout_of[$cfg]=$("$py" - "$out/torch.1.jsonl" "$m" "$mode" "$s" <<'EOF'
import json, sys
path, m, mode, s = sys.argv[1:]
rows = [r for r in map(json.loads, open(path)) if (r["model"], r["mode"], r["size"]) == (m, mode, int(s))]
print(min(rows, key=lambda r: r["median_s"])["layout"])
EOF
      )
    fi
  done
done
echo "end: $(load)" >>"$out/load.txt"

if [[ $compile == 1 ]]; then
  echo "compile: $(load)" >>"$out/load.txt"
  IFS=, read -ra compile_list <<<"$compile_models"
  for m in "${compile_list[@]}"; do
    for mode in train eval; do
      echo "torch.compile: $m $mode 64px" >&2
      read -r warm iters <<<"$(iters_for "$m" "$mode" 64)"
      timeout "$per_run_timeout" "$py" "$root/tools/bench_backbones_peer.py" --model "$m" --mode "$mode" --size 64 \
        --warmup $((warm + 1)) --iters "$iters" --threads "$threads" --layouts "${layout_of["$m $mode 64"]:-channels_last}" \
        --compile --json "$out/compile.jsonl" >/dev/null 2>"$out/compile.$m.$mode.log" ||
        echo "torch.compile failed or timed out for $m $mode (see $out/compile.$m.$mode.log)" >&2
    done
  done
  echo "compile end: $(load)" >>"$out/load.txt"
fi

march=$(grep -m1 '^FER_MARCH:' "$build/CMakeCache.txt" | cut -d= -f2)
"$py" - "$out" "$start_date" "$commit$dirty" "$march" "$threads" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" <<'EOF' | tee "$out/table.md"
import glob, json, os, statistics, sys, torch, torchvision
out, date, commit, march, threads, cores, cpu = sys.argv[1:]
def rows(pattern):
    for path in sorted(glob.glob(f"{out}/{pattern}")):
        for line in open(path):
            r = json.loads(line)
            r["round"] = path.rsplit(".", 2)[-2]
            yield r
key = lambda r: (r["model"], r["mode"], r["size"])
fer, torch_best, compiled = {}, {}, {}
for r in rows("fer.*.jsonl"):
    fer.setdefault(key(r), {})[r["round"]] = r
for r in rows("torch.*.jsonl"):
    best = torch_best.setdefault(key(r), {})
    if r["round"] not in best or r["median_s"] < best[r["round"]]["median_s"]:
        best[r["round"]] = r
for r in rows("compile.jsonl"):
    compiled[key(r)] = r
print(f"date: {date}; fer commit {commit}, -march={march}; torch {torch.__version__}, torchvision "
      f"{torchvision.__version__} (PyPI); {threads} threads on {cores} cores ({cpu}); "
      f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset: libgomp default)')}")
loads = [float(l.split(":")[-1].split()[0]) for l in open(f"{out}/load.txt") if ":" in l]
folded = {r.get("bn_folded") for k, runs in fer.items() if k[1] == "eval" for r in runs.values()}
if folded:
    print("fer's eval forward: " + ("conv -> batch norm pairs folded into one conv (as fer's evaluate, predict and "
          "verify run it; PyTorch's eager eval keeps them apart)" if folded == {True} else
          "batch norm not folded (NO_FOLD=1)" if folded == {False} else "mixed folded and unfolded rounds"))
print(f"load average (1 min) before each configuration: min {min(loads):.1f}, median {statistics.median(loads):.1f}, "
      f"max {max(loads):.1f} (all values in load.txt)")
print()
print("| backbone | step | px | batch | fer images/s | fer GFLOP/s | PyTorch images/s | PyTorch layout "
      "| fer/PyTorch (median of paired ratios) | range over rounds | fer/torch.compile "
      "| cpu busy fer / PyTorch | max RSS MiB fer / PyTorch |")
print("|---|---|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|")
summary = {}
order = {"train": 0, "eval": 1}
# CPU time over the timed steps / (wall x threads), median over rounds; peak RSS of the process, smallest over
# rounds (round 1 of PyTorch measures both layouts in one process).
def busy(runs):
    v = [r["cpu_busy"] for r in runs.values() if r.get("cpu_busy") is not None]
    return f"{statistics.median(v):.2f}" if v else "-"
def rss(runs):
    v = [r["max_rss_mib"] for r in runs.values() if r.get("max_rss_mib") is not None]
    return f"{min(v):.0f}" if v else "-"
for k in sorted(fer, key=lambda k: (k[0], order[k[1]], k[2])):
    f, t = fer[k], torch_best.get(k, {})
    paired = [t[rd]["median_s"] / f[rd]["median_s"] for rd in f if rd in t]
    if not paired:
        continue
    fer_s = statistics.median(r["median_s"] for r in f.values())
    tor_s = statistics.median(r["median_s"] for r in t.values())
    any_f = next(iter(f.values()))
    layouts = sorted({r["layout"] for r in t.values()})
    ratio = statistics.median(paired)
    summary[(k[0], k[1], k[2])] = ratio
    c = compiled.get(k)
    comp = f"{c['median_s'] / fer_s:.2f}" if c else "-"
    print(f"| {k[0]} | {k[1]} | {k[2]} | {any_f['batch']} | {any_f['batch'] / fer_s:.1f} | "
          f"{any_f['flops'] / fer_s * 1e-9:.1f} | {any_f['batch'] / tor_s:.1f} | {'/'.join(layouts)} | "
          f"**{ratio:.2f}** | {min(paired):.2f}-{max(paired):.2f} | {comp} | {busy(f)} / {busy(t)} | "
          f"{rss(f)} / {rss(t)} |")
print()
print("fer/PyTorch at a glance (> 1: fer faster; goal: train >= 1.5, eval >= 2):")
print()
cols = [("train", 48), ("train", 64), ("eval", 48), ("eval", 64), ("eval", 224)]
print("| backbone | " + " | ".join(f"{m} {s} px" for m, s in cols) + " |")
print("|---|" + "---:|" * len(cols))
for m in dict.fromkeys(k[0] for k in summary):
    cells = [f"{summary[(m, mode, s)]:.2f}" if (m, mode, s) in summary else "-" for mode, s in cols]
    print(f"| {m} | " + " | ".join(cells) + " |")
EOF
