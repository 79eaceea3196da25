#!/bin/sh
# examples/analyze end to end on a tiny run: custom_cnn trained 1 epoch on 7 Fashion-MNIST classes (280 images, 32 px),
# a synthetic second domain from the embedded demo generator, then `analyze gradcam` and `analyze embed`; checks
# that every output exists and is well formed, and that bad input fails with a message naming the problem.
# Also `analyze crossdomain`, `analyze curves --groups` and an `evaluate --run A --run B` ensemble.
# Usage: analyze_e2e.sh TRAIN GENERATE ANALYZE SOURCE_DIR WORK_DIR EVALUATE
set -eu
TRAIN=$1 GENERATE=$2 ANALYZE=$3 SRC=$4 WORK=$5 EVALUATE=$6
rm -rf "$WORK"
mkdir -p "$WORK"
RUN=$WORK/run
fail() { echo "analyze_e2e: $*" >&2; exit 1; }

"$TRAIN" --data_root fashion-mnist --max_classes 7 --limit_train 280 --limit_eval 70 --model custom_cnn --input_size 32 \
  --epochs 1 --batch_size 32 --out "$RUN" > "$WORK/train.log"
[ -s "$RUN/config.json" ] || fail "train wrote no config.json"
"$GENERATE" --generator "$SRC/examples/data/demo_generator.safetensors" --class-names 0,1,2,3,4,5,6 --per-class 4 \
  --seeds 0-3 --size 32 --out "$WORK/synth" > "$WORK/generate.log"

# Grad-CAM on 40 test images.
"$ANALYZE" gradcam --run "$RUN" --data_root fashion-mnist --max_classes 7 --split test --limit 40 --per_class 3
G=$RUN/analysis/gradcam_test
for f in summary.json gradcam.csv maps.safetensors mean_maps.png grid_Trouser.png grid_T-shirt_top.png; do
  [ -s "$G/$f" ] || fail "missing $G/$f"
done
[ "$(ls "$G"/grid_*.png | wc -l)" -eq 7 ] || fail "expected 7 class grids"
[ "$(tail -n +2 "$G/gradcam.csv" | wc -l)" -eq 40 ] || fail "gradcam.csv should list 40 images"
[ "$(find "$G/images" -name '*.png' | wc -l)" -eq 40 ] || fail "expected 40 per-image heat maps"
grep -q '"layer": "features"' "$G/summary.json" || fail "default layer of custom_cnn should be features"
grep -q '"map_size"' "$G/summary.json" || fail "summary.json lacks map_size"
# The grids reach the run's TensorBoard log as image summaries (TensorBoard reads every event file of the folder).
grep -aq 'analysis/gradcam_features_test/mean_maps' "$RUN"/tensorboard/events.out.tfevents.* || fail "no Grad-CAM image summary"
grep -aq 'analysis/gradcam_features_test/Trouser' "$RUN"/tensorboard/events.out.tfevents.* || fail "no per-class Grad-CAM summary"
"$ANALYZE" gradcam --run "$RUN" --data_root fashion-mnist --max_classes 7 --split test --limit 8 --method gradcampp \
  --layer features.4 --name pp
grep -q '"method": "gradcampp"' "$RUN/analysis/pp/summary.json" || fail "--method gradcampp not recorded"

# Embeddings: 40 real test images and the 28 synthetic ones.
"$ANALYZE" embed --run "$RUN" --data_root fashion-mnist --max_classes 7 --split test --limit 40 --synthetic "$WORK/synth"
E=$RUN/analysis/embed_test
for f in embeddings.safetensors embeddings.csv pca.csv tsne.csv pca_class.png pca_domain.png tsne_class.png \
         tsne_domain.png domain_gap.json summary.json; do
  [ -s "$E/$f" ] || fail "missing $E/$f"
done
[ "$(tail -n +2 "$E/embeddings.csv" | wc -l)" -eq 68 ] || fail "embeddings.csv should list 68 images"
[ "$(grep -c ',synthetic,' "$E/embeddings.csv")" -eq 28 ] || fail "expected 28 synthetic rows"
grep -q '"frechet_distance"' "$E/domain_gap.json" || fail "domain_gap.json lacks the Frechet distance"
grep -q '"accuracy"' "$E/domain_gap.json" || fail "domain_gap.json lacks the probe accuracy"

# Cross-domain: the run's own test split (data source from config.json) beside the whole synthetic folder.
"$ANALYZE" crossdomain --run "$RUN" --limit 40 --synthetic "$WORK/synth" > "$WORK/cross.log"
C=$RUN/analysis/crossdomain_test
for f in crossdomain.json crossdomain.md in_domain/metrics.json cross_domain/metrics.json cross_domain/predictions.csv; do
  [ -s "$C/$f" ] || fail "missing $C/$f"
done
python3 - "$C/crossdomain.json" <<'PY' || fail "crossdomain.json is not as expected"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["in_domain"]["images"] == 40 and j["cross_domain"]["images"] == 28, j
assert 0 <= j["cross_domain"]["metrics"]["accuracy"] <= 1 and 0 <= j["in_domain"]["metrics"]["accuracy"] <= 1
PY
[ "$(tail -n +2 "$C/cross_domain/predictions.csv" | wc -l)" -eq 28 ] || fail "cross-domain predictions should list 28 images"

# Curves, confidence histograms and emotion groups on the run's test split.
"$ANALYZE" curves --run "$RUN" --limit 60 --groups "tops=T-shirt/top,Pullover,Coat,Shirt;other=Trouser,Dress,Sandal" \
  > "$WORK/curves.log"
K=$RUN/analysis/curves_test
for f in curves.csv roc.png pr.png confidence_histograms.csv confidence_histograms.png metrics.json; do
  [ -s "$K/$f" ] || fail "missing $K/$f"
done
python3 - "$K/metrics.json" <<'PY' || fail "curves metrics.json is not as expected"
import json, sys
j = json.load(open(sys.argv[1]))
g = j["groups"]
assert g["num_samples"] == 60 and len(g["confusion_matrix"]) == 2, g
assert sum(map(sum, g["confusion_matrix"])) == 60
# Grouping can only merge confusions: grouped accuracy >= the 7-class accuracy.
assert g["accuracy"] >= j["accuracy"] - 1e-12, (g["accuracy"], j["accuracy"])
assert len(j["curves"]["per_class"]) == 7
PY

# An ensemble of two runs (another seed) evaluated on the first run's data.
"$TRAIN" --data_root fashion-mnist --max_classes 7 --limit_train 280 --limit_eval 70 --model custom_cnn --input_size 32 \
  --epochs 1 --batch_size 32 --seed 1 --out "$WORK/run2" > "$WORK/train2.log"
"$EVALUATE" --run "$RUN" --run "$WORK/run2" --out "$WORK/ensemble" > "$WORK/ensemble.log"
python3 - "$WORK/ensemble/ensemble.json" <<'PY' || fail "ensemble.json is not as expected"
import json, sys
j = json.load(open(sys.argv[1]))
assert len(j["members"]) == 2 and j["images"] == 70, j["images"]
g = j["macro_f1_gain_over_best_member"]
assert g["ci95_low"] <= g["difference"] <= g["ci95_high"], g
best = max(m["metrics"]["macro_f1"] for m in j["members"])
assert abs(j["mean_probability"]["macro_f1"] - best - g["difference"]) < 1e-9, (j["mean_probability"]["macro_f1"], best, g)
PY

# Bad input: a clear error and a non-zero exit.
expect_error() {
  pattern=$1
  shift
  if "$@" > "$WORK/err.out" 2> "$WORK/err.txt"; then fail "should have failed: $*"; fi
  grep -q "$pattern" "$WORK/err.txt" || fail "error of '$*' does not say '$pattern': $(cat "$WORK/err.txt")"
}
expect_error "no config.json" "$ANALYZE" gradcam --run "$WORK/nowhere" --data_root fashion-mnist
expect_error "split must be" "$ANALYZE" embed --run "$RUN" --data_root fashion-mnist --max_classes 7 --split nope
expect_error "has 10 classes but the run has 7" "$ANALYZE" gradcam --run "$RUN" --data_root fashion-mnist --limit 4
expect_error "no module named" "$ANALYZE" gradcam --run "$RUN" --data_root fashion-mnist --max_classes 7 --limit 4 --layer nope
echo "analyze_e2e: ok"
