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

# 2. Killed (SIGKILL) right after the first epoch of its second run is checkpointed, then resumed with the same
#    command: that run must continue from its checkpoint (not restart) and end as the straight one did.
set +e
"$exe" "${args[@]}" --kill-after mlp-r1.00-s3:1 --out "$work/killed" > "$work/killed.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 137 ] || { echo "the sweep was to be killed (137), it exited $rc"; cat "$work/killed.log"; exit 1; }
"$exe" "${args[@]}" --out "$work/killed" > "$work/resumed.log"
grep -q "resumed from .*mlp-r1.00-s3/checkpoints/last at epoch 1" "$work/resumed.log" ||
  { echo "the killed run did not resume from its epoch-1 checkpoint"; cat "$work/resumed.log"; exit 1; }
grep -q "already done" "$work/resumed.log"

# 3. Two shards, merged.
"$exe" "${args[@]}" --shard 0/2 --out "$work/shard0" > /dev/null
"$exe" "${args[@]}" --shard 1/2 --out "$work/shard1" > /dev/null
"$exe" --merge "$work/shard0" "$work/shard1" --out "$work/merged" > /dev/null

# A run may be merged only once, and only sweeps with the same settings merge (issue 15: today's main averaged a
# duplicated run as an extra seed, "± 0.0000").
set +e
"$exe" --merge "$work/shard0" "$work/shard0" --out "$work/merged_twice" > "$work/twice.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || { echo "merging a shard with itself was accepted"; exit 1; }
grep -q "is in both" "$work/twice.log" || { echo "no duplicate-run message:"; cat "$work/twice.log"; exit 1; }
[ ! -e "$work/merged_twice/summary.md" ] || { echo "a refused merge wrote a report"; exit 1; }

a=$(tables "$work/straight/summary.json")
b=$(tables "$work/killed/summary.json")
c=$(tables "$work/merged/summary.json")
if [ "$a" != "$b" ]; then echo "resumed sweep differs from the straight one:"; echo "$a"; echo "$b"; exit 1; fi
if [ "$a" != "$c" ]; then echo "merged shards differ from the straight sweep:"; echo "$a"; echo "$c"; exit 1; fi
for f in summary.md summary.yaml index.html acc_vs_realrate.png f1_vs_realrate.png auroc_vs_realrate.png recall_vs_realrate.png; do
  [ -s "$work/merged/$f" ] || { echo "missing $f"; exit 1; }
done
echo "sweep resume and shard merge: identical summaries"
