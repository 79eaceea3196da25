#!/usr/bin/env bash
# train_sweep end to end (run by CTest): a sweep killed mid-run and resumed gives the same summary as one run
# straight through, and two shards merged give it too. Usage: sweep_resume_and_merge.sh TRAIN_SWEEP WORKDIR
set -euo pipefail
exe=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
# 7 real classes: the embedded generator has 7.
args=(--models mlp,custom_cnn --ratios 0.0,1.0 --seeds 3 --epochs 2 --input_size 16 --batch_size 32 --max_classes 7
      --limit_train 210 --limit_eval 105 --real fashion-mnist
      --synthetic "generator:$(dirname "$0")/../examples/data/demo_generator.safetensors")

tables() {  # the numbers of a summary, without paths
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(json.dumps(s['tables'], sort_keys=True)); print(json.dumps(sorted((r['id'], r['accuracy'], r['macro_f1']) for r in s['runs'])))" "$1"
}

# 1. Straight through.
"$exe" "${args[@]}" --out "$work/straight" > "$work/straight.log"

# 2. Killed (SIGKILL) while its second run trains, then resumed with the same command.
"$exe" "${args[@]}" --out "$work/killed" > "$work/killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$work/killed/runs/mlp-r1.00-s3/checkpoints/last/trainer.json" ] && break
  [ -f "$work/killed/runs/mlp-r0.00-s3/metrics.json" ] && [ -d "$work/killed/runs/mlp-r1.00-s3" ] && break
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
"$exe" "${args[@]}" --out "$work/killed" > "$work/resumed.log"
grep -q "already done" "$work/resumed.log"

# 3. Two shards, merged.
"$exe" "${args[@]}" --shard 0/2 --out "$work/shard0" > /dev/null
"$exe" "${args[@]}" --shard 1/2 --out "$work/shard1" > /dev/null
"$exe" --merge "$work/shard0" "$work/shard1" --out "$work/merged" > /dev/null

a=$(tables "$work/straight/summary.json")
b=$(tables "$work/killed/summary.json")
c=$(tables "$work/merged/summary.json")
if [ "$a" != "$b" ]; then echo "resumed sweep differs from the straight one:"; echo "$a"; echo "$b"; exit 1; fi
if [ "$a" != "$c" ]; then echo "merged shards differ from the straight sweep:"; echo "$a"; echo "$c"; exit 1; fi
for f in summary.md summary.yaml index.html acc_vs_realrate.png f1_vs_realrate.png auroc_vs_realrate.png recall_vs_realrate.png; do
  [ -s "$work/merged/$f" ] || { echo "missing $f"; exit 1; }
done
echo "sweep resume and shard merge: identical summaries"
