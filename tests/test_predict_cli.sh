#!/usr/bin/env bash
# predict end to end (run by CTest): faces found and classified in the committed photos, CSV rows and annotated
# copies, --run DIR (config.json + checkpoint), and refusals. Usage: test_predict_cli.sh BUILD_EXAMPLES_DIR WORKDIR
set -uo pipefail
bin=$1
work=$2
data=$(cd "$(dirname "$0")/data" && pwd)
rm -rf "$work" && mkdir -p "$work"
failures=0
check() {  # check NAME CONDITION-COMMAND...
  local name=$1
  shift
  if "$@"; then echo "ok $name"; else echo "FAILED $name"; failures=$((failures + 1)); fi
}
w=$data/verify/shufflenet_v2_x0_5_c7_f16.pt
classes=angry,disgust,fear,happy,sad,surprise,neutral

"$bin/predict" --model shufflenet_v2_x0_5 --weights "$w" --classes $classes --input_size 48 --detect-faces \
  "$data/photos" --out "$work/pred.csv" --annotate "$work/annotated" > "$work/pred.log" 2>&1
check predict_exit test $? -eq 0
cat "$work/pred.log"
# One row per face; photos without a face get one row with an empty face index.
rows() { grep -c "^$data/photos/$1,$2" "$work/pred.csv"; }
check astronaut_one_face test "$(rows astronaut.jpg 0,)" -eq 1
check two_faces test "$(grep -c "^$data/photos/two_faces.jpg,[01]," "$work/pred.csv")" -eq 2
check coffee_no_face test "$(rows coffee.jpg ,,)" -eq 1
check chelsea_no_face test "$(rows chelsea.jpg ,,)" -eq 1
check csv_header grep -q "^file,face,x,y,width,height,detector_score,predicted,p_angry,p_disgust,p_fear,p_happy,p_sad,p_surprise,p_neutral$" "$work/pred.csv"
# Probabilities of each face sum to 1.
check probabilities_sum_to_one awk -F, 'NR > 1 && $2 != "" { s = 0; for (i = 9; i <= NF; i++) s += $i; if (s < 0.9999 || s > 1.0001) bad = 1 } END { exit bad }' "$work/pred.csv"
check annotated_copies test "$(ls "$work/annotated" | grep -c '\.png$')" -eq 4

# --run DIR: a run trained from the same .pt; its config.json gives model, classes, size and normalization.
if [ -d /usr/share/datasets/fashion-mnist ]; then
  "$bin/train" --data_root fashion-mnist --max_classes 7 --limit_train 14 --limit_eval 7 --model shufflenet_v2_x0_5 \
    --pretrained "$w" --input_size 48 --epochs 1 --batch_size 7 --out "$work/run" > "$work/train.log" 2>&1
  check run_trained test $? -eq 0
  if [ ! -f "$work/run/config.json" ]; then  # written by train once the run-directory contract is merged
    cat > "$work/run/config.json" <<JSON
{"model": "shufflenet_v2_x0_5", "num_classes": 7, "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt"],
 "input_size": 48, "channels": 3, "imagenet_norm": false, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
JSON
  fi
  "$bin/predict" --run "$work/run" --detect-faces "$data/photos/two_faces.jpg" --out "$work/run_pred.csv" > "$work/run.log" 2>&1
  check predict_run test $? -eq 0
  check predict_run_rows test "$(grep -c "two_faces.jpg,[01]," "$work/run_pred.csv")" -eq 2
  check predict_run_classes grep -q "p_T-shirt/top" "$work/run_pred.csv"
  # Batch norm folded into the convolutions (the default) and apart (--no-fold), on a ResNet-18 run (all its conv ->
  # BN pairs, running statistics from training): the same rows, probabilities within 1e-5 (written with 6 decimals;
  # folding changes only rounding).
  "$bin/train" --data_root fashion-mnist --max_classes 7 --limit_train 14 --limit_eval 7 --model resnet18 \
    --input_size 32 --epochs 1 --batch_size 7 --out "$work/run_r18" > "$work/train_r18.log" 2>&1
  check run_r18_trained test $? -eq 0
  "$bin/predict" --run "$work/run_r18" --detect-faces "$data/photos" --out "$work/pred_folded.csv" > "$work/folded.log" 2>&1
  check predict_folded test $? -eq 0
  check predict_folds grep -q "batch norm: [1-9][0-9]* conv -> BN pairs folded" "$work/folded.log"
  "$bin/predict" --run "$work/run_r18" --detect-faces --no-fold "$data/photos" --out "$work/pred_unfolded.csv" \
    > "$work/unfolded.log" 2>&1
  check predict_no_fold test $? -eq 0
  check fold_same_probabilities awk -F, 'NR == FNR { row[FNR] = $0; next }
    { n = split(row[FNR], a, ","); if (NF != n) bad = 1
      for (i = 1; i <= NF; i++) if (i < 9) { if ($i != a[i]) bad = 1 } else if ($i - a[i] > 1e-5 || a[i] - $i > 1e-5) bad = 1 }
    END { exit bad || FNR < 5 }' "$work/pred_folded.csv" "$work/pred_unfolded.csv"
  "$bin/predict" --run "$work/run" --model resnet18 "$data/photos" --out "$work/x.csv" > "$work/conflict.log" 2>&1
  check refuses_run_with_model test $? -eq 1
  check refuses_run_with_model_message grep -q "do not combine it with --model" "$work/conflict.log"
fi
# Bad input: a missing path and a corrupt image are named; nothing is written.
"$bin/predict" --model shufflenet_v2_x0_5 --weights "$w" --num_classes 7 --input_size 48 "$work/nope.jpg" --out "$work/bad.csv" > "$work/missing.log" 2>&1
check missing_input test $? -eq 1
check missing_input_message grep -q "nope.jpg: no such file or folder" "$work/missing.log"
echo "not a jpeg" > "$work/corrupt.jpg"
"$bin/predict" --model shufflenet_v2_x0_5 --weights "$w" --num_classes 7 --input_size 48 "$work/corrupt.jpg" --out "$work/bad.csv" > "$work/corrupt.log" 2>&1
check corrupt_image test $? -eq 1
check corrupt_image_message grep -q "corrupt.jpg: not a readable PNG/JPEG/BMP image" "$work/corrupt.log"
check nothing_written test ! -e "$work/bad.csv"
[ "$failures" -eq 0 ]
