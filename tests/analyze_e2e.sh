#!/bin/sh
# examples/analyze end to end on a tiny run: custom_cnn trained 1 epoch on 7 Fashion-MNIST classes (280 images, 32 px),
# a synthetic second domain from the embedded demo generator, then `analyze gradcam` and `analyze embed`; checks
# that every output exists and is well formed, and that bad input fails with a message naming the problem.
# Usage: analyze_e2e.sh TRAIN GENERATE ANALYZE SOURCE_DIR WORK_DIR
set -eu
TRAIN=$1 GENERATE=$2 ANALYZE=$3 SRC=$4 WORK=$5
rm -rf "$WORK"
mkdir -p "$WORK"
RUN=$WORK/run
fail() { echo "analyze_e2e: $*" >&2; exit 1; }

"$TRAIN" --data_root fashion-mnist --max_classes 7 --limit_train 280 --limit_eval 70 --model custom_cnn --input_size 32 \
  --epochs 1 --batch_size 32 --out "$RUN" > "$WORK/train.log"
# train writes config.json once issue 15's run directory lands; until then the test writes the same schema.
if [ ! -f "$RUN/config.json" ]; then
  cat > "$RUN/config.json" <<'JSON'
{"model": "custom_cnn", "num_classes": 7,
 "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt"],
 "input_size": 32, "channels": 3, "imagenet_norm": false, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
 "hidden_head": 0, "head_dropout": 0.0, "drop_path": 0.0, "train": {}, "data": {}, "build": {}}
JSON
fi
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
