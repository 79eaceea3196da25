#!/usr/bin/env bash
# Run directories a researcher can trust (issue 15), end to end with train and evaluate on small Fashion-MNIST
# subsets (run by CTest). Usage: run_trust.sh TRAIN EVALUATE WORKDIR CASE
#   CASE reproduce    evaluate --run DIR gives the run's own test metrics for a plain mlp, a hidden-head model
#                     (--hidden_head 256) and a 32 px custom_cnn, with no other flag; config.json says what ran
#   CASE reuse        a second train into a run directory with other settings is refused (naming them); the same
#                     settings on a finished run change nothing; --force-new keeps the old run aside; a kill between
#                     the last checkpoint and metrics.json is completed with the epochs and images/s as trained
#   CASE evalonly     --epochs 0 --resume and evaluate write into DIR/eval/<split>-<fp>/, never over metrics.json;
#                     explicit flags that contradict config.json are errors; --resume takes the rest from it
#   CASE integrity    a bit-flipped checkpoint is refused naming the file; predictions.csv keeps %.9g probabilities
#   CASE validate     bad settings are refused before any data is read; a missing --data_root is an error; --help
#                     shows the defaults
set -euo pipefail
train=$1
evaluate=$2
work=$3
case_name=$4
rm -rf "$work"
mkdir -p "$work"
cd "$work"
small=(--data_root fashion-mnist --epochs 1 --limit_train 300 --limit_eval 100 --batch_size 32 --seed 4)

die() { echo "FAIL: $*"; exit 1; }
# expect_error LOG PATTERN... : the last command failed and its output names every pattern.
expect_fail() {
  local log=$1
  shift
  local rc=0
  "$@" > "$log" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || { cat "$log"; die "expected an error from: $*"; }
}
has() { grep -q -- "$2" "$1" || { cat "$1"; die "$1 does not say '$2'"; }; }
# same_test_metrics RUN EVAL_METRICS: the run's test metrics equal those evaluate wrote, exactly.
same_test_metrics() {
  python3 - "$1/metrics.json" "$2" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))["test"]
ev = json.load(open(sys.argv[2]))
keys = ["accuracy", "macro_f1", "weighted_f1", "auroc_macro", "ece", "loss"]
bad = [(k, run[k], ev[k]) for k in keys if run[k] != ev[k]]
assert not bad, f"evaluate differs from the run: {bad}"
assert run["per_class"] == ev["per_class"], "per-class metrics differ"
print("same test metrics:", {k: run[k] for k in keys})
EOF
}
fingerprint() { sha256sum "$@" | sha256sum; stat -c '%n %Y %s' "$@"; }

case "$case_name" in
reproduce)
  "$train" "${small[@]}" --model mlp --input_size 28 --out plain > plain.log
  "$train" "${small[@]}" --model mlp --input_size 28 --hidden_head 256 --out hidden > hidden.log
  "$train" "${small[@]}" --model custom_cnn --input_size 32 --out px32 > px32.log
  for r in plain hidden px32; do
    "$evaluate" --run "$r" > "$r.eval.log"
    m=$(ls "$r"/eval/test-*/metrics.json)
    same_test_metrics "$r" "$m"
    cmp "$r/predictions.csv" "$(dirname "$m")/predictions.csv" || die "$r: predictions differ"
  done
  python3 - <<'EOF'
import json
c = json.load(open("hidden/config.json"))
assert c["model"] == "mlp" and c["hidden_head"] == 256 and c["input_size"] == 28 and c["num_classes"] == 10, c
assert c["class_names"][0] == "T-shirt/top" and len(c["class_names"]) == 10
t = c["train"]
for k in ["optimizer", "lr", "weight_decay", "momentum", "schedule", "batch_size", "epochs", "seed", "sampler",
          "class_weights", "loss", "label_smoothing", "augment", "freeze", "pretrained_sha256", "amp"]:
    assert k in t, f"train.{k} missing"
assert t["lr"] == 0.001 and t["batch_size"] == 32 and t["seed"] == 4 and t["epochs"] == 1
d = c["data"]
assert d["data_root"] == "fashion-mnist" and d["limit_train"] == 300 and d["real_ratio"] == 1.0
assert len(d["source_files"]) == 4 and all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in d["source_files"])
assert sum(d["splits"]["train"]["per_class"]) == 300 and sum(d["splits"]["test"]["per_class"]) == 100
b = c["build"]
assert b["fer_version"] and "cuda" in b and "isa" in b
assert json.load(open("px32/config.json"))["input_size"] == 32
print("config.json complete")
EOF
  [ -s hidden/config.yaml ] || die "no config.yaml"
  ;;
reuse)
  "$train" "${small[@]}" --model mlp --input_size 28 --out run > first.log
  before=$(fingerprint run/metrics.json run/log.csv run/config.json run/checkpoints/last/model.safetensors)
  ntb=$(ls run/tensorboard | wc -l)
  # Other settings into the same directory: refused, naming the setting and both values.
  expect_fail other.log "$train" "${small[@]}" --model mlp --input_size 28 --lr 0.01 --out run
  has other.log "train/lr: 0.01"
  has other.log "0.001"
  has other.log "force-new"
  # The same settings again: finished, nothing touched.
  "$train" "${small[@]}" --model mlp --input_size 28 --out run > same.log
  has same.log "already finished"
  [ "$(fingerprint run/metrics.json run/log.csv run/config.json run/checkpoints/last/model.safetensors)" == "$before" ] ||
    die "a finished run was modified by a rerun with the same settings"
  [ "$(ls run/tensorboard | wc -l)" -eq "$ntb" ] || die "a rerun added TensorBoard files"
  # A kill between the last checkpoint and metrics.json: the rerun completes the run's own metrics.
  cp -r run killed
  rm killed/metrics.json killed/metrics.yaml
  "$train" "${small[@]}" --model mlp --input_size 28 --out killed > killed.log
  python3 - <<'EOF'
import json
a, b = json.load(open("run/metrics.json")), json.load(open("killed/metrics.json"))
assert b["epochs"] == 1, f"epochs {b['epochs']}, trained 1"
assert b["images_per_second"] == a["images_per_second"] > 0, (a["images_per_second"], b["images_per_second"])
assert b["test"]["accuracy"] == a["test"]["accuracy"]
print("completed metrics: epochs", b["epochs"], "images/s", b["images_per_second"])
EOF
  # --force-new: the old run is kept aside, the new one starts afresh.
  "$train" "${small[@]}" --model mlp --input_size 28 --lr 0.01 --out run --force-new > forced.log
  aside=$(ls -d run.replaced-* | head -1)
  [ -n "$aside" ] && [ -f "$aside/metrics.json" ] || die "--force-new lost the old run"
  python3 -c "import json; assert json.load(open('run/config.json'))['train']['lr'] == 0.01"
  grep -q "resumed" forced.log && die "--force-new resumed"
  # A directory holding a run but no config.json (an older fer) is not resumed blindly.
  cp -r "$aside" legacy
  rm legacy/config.json
  expect_fail legacy.log "$train" "${small[@]}" --model mlp --input_size 28 --out legacy
  has legacy.log "without config.json"
  ;;
evalonly)
  "$train" "${small[@]}" --model mlp --input_size 28 --out run > first.log
  before=$(fingerprint run/metrics.json run/predictions.csv)
  "$train" --epochs 0 --resume run > evalonly.log
  [ "$(fingerprint run/metrics.json run/predictions.csv)" == "$before" ] || die "--epochs 0 --resume overwrote the run's results"
  same_test_metrics run "$(ls run/eval/test-*/metrics.json)"
  ls run/eval/val-*/metrics.json > /dev/null
  # Another data selection gets its own directory.
  "$evaluate" --run run --limit_eval 50 > eval50.log
  [ "$(ls -d run/eval/test-* | wc -l)" -eq 2 ] || die "evaluations on different data share a directory"
  [ "$(fingerprint run/metrics.json run/predictions.csv)" == "$before" ] || die "evaluate overwrote the run's results"
  # Contradicting flags are errors naming both values.
  expect_fail contra1.log "$train" --epochs 0 --resume run --model custom_cnn
  has contra1.log "custom_cnn"
  has contra1.log "mlp"
  expect_fail contra2.log "$evaluate" --run run --input_size 32
  has contra2.log "input_size is 28"
  expect_fail contra3.log "$train" --resume run --lr 0.5 --epochs 2
  has contra3.log "lr is 0.001"
  # Data with other classes is not evaluated as if it were the run's.
  expect_fail classes.log "$evaluate" --run run --max_classes 5
  has classes.log "differ from the run's"
  # --resume takes every other setting from config.json and continues the run.
  "$train" --resume run --epochs 2 > resumed.log
  has resumed.log "at epoch 1"
  python3 -c "import json; m = json.load(open('run/metrics.json')); assert m['epochs'] == 2, m['epochs']"
  # --weights: a plain state dict.
  "$evaluate" --run run --weights run/checkpoints/best/model.safetensors --out w > weights.log
  python3 -c "import json; assert json.load(open('w/metrics.json'))['images'] == 100"
  ;;
integrity)
  "$train" "${small[@]}" --model mlp --input_size 28 --out run > first.log
  python3 - <<'EOF'
import csv
rows = list(csv.reader(open("run/predictions.csv")))
probs = [p for r in rows[1:] for p in r[3:]]
# %.9g: at least one probability needs more than the 6 decimals of %.6f, and each row sums to 1 to float precision.
assert any(len(p.split("e")[0].replace("0.", "", 1).lstrip("0").replace(".", "")) > 6 for p in probs), probs[:10]
for r in rows[1:]:
    assert abs(sum(float(p) for p in r[3:]) - 1) < 1e-6
EOF
  cp -r run flipped
  python3 - <<'EOF'
p = "flipped/checkpoints/best/model.safetensors"
b = bytearray(open(p, "rb").read())
b[len(b) - 100] ^= 0x10  # one bit of a weight
open(p, "wb").write(b)
EOF
  expect_fail flip.log "$evaluate" --checkpoint flipped/checkpoints/best --model mlp --input_size 28 \
    --data_root fashion-mnist --limit_eval 100 --out flip_eval
  has flip.log "model.safetensors"
  has flip.log "SHA-256"
  expect_fail flip_run.log "$evaluate" --run flipped
  has flip_run.log "flipped/checkpoints/best/model.safetensors"
  # Resuming needs the optimizer state.
  rm run/checkpoints/last/optimizer.safetensors
  expect_fail noopt.log "$train" --resume run --epochs 2
  has noopt.log "optimizer.safetensors"
  ;;
validate)
  for bad in "--lr 0" "--lr nan" "--lr -1" "--batch_size 0" "--model nosuch" "--model custom_cnn --input_size 20" \
             "--model resnet18 --input_size 16" "--input_size 5000" "--real_ratio 1.5" "--label_smoothing -0.1" \
             "--amp" "--out /etc/hostname/run"; do
    # shellcheck disable=SC2086
    expect_fail bad.log timeout 10 "$train" --data_root fashion-mnist --epochs 1 --limit_train 300 $bad
    grep -q "^data:" bad.log && { cat bad.log; die "$bad: data was read before the settings were checked"; }
    has bad.log "train: error: --"
  done
  expect_fail bad.log "$train" "${small[@]}" --model nosuch
  has bad.log "resnet18"
  expect_fail nodata.log "$train" --epochs 1 --limit_train 60 --limit_eval 20 --model mlp --input_size 28 --out nodata
  has nodata.log "data_root is required"
  "$train" --help > help.log
  has help.log "--lr FLOAT=0.001"
  has help.log "--batch_size INT=64"
  has help.log "--model TEXT=custom_cnn"
  "$evaluate" --help > ehelp.log
  has ehelp.log "--split TEXT=test"
  ;;
*)
  die "unknown case $case_name"
  ;;
esac
echo "run_trust $case_name: ok"
