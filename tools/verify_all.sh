#!/usr/bin/env bash
# examples/verify on all ten backbones, at 64, 224, 48, 57 and 97 px, with 7 and 1000 classes: for each model and
# class count, tools/make_verify_io.py writes library-initialized weights (BN statistics perturbed; torch.save's zip
# format for 7 classes, its legacy format for 1000) and the reference logits at the five sizes plus one training
# step at 64 px (loss and every gradient) into a temporary directory, and verify compares: eval mode with conv -> BN
# pairs folded (as evaluate and predict run), then again with --no-fold. Prints a Markdown table and exits non-zero
# if any comparison fails.
#
# Tolerances (verify's): logits and loss 1e-4, gradients 1e-3, relative L2 against PyTorch's float32. The training
# step at 64 px is ill-conditioned: training-mode batch norm over 16 values per channel (2x2 maps, 4 images) followed
# by a ReLU, so an activation within rounding of 0 flips its ReLU with the summation order and moves gradients by
# percents. PyTorch's own float32 runs show it: for DenseNet-121 and ResNet-50 at 7 classes, seed 0, PyTorch float32
# with channels-last layout, one thread, or the input moved by one rounding is up to 2.2e-2 (DenseNet) and 5.7e-2
# (ResNet-50) from float64, and 123 to 268 of DenseNet's 364 (152 to 159 of ResNet-50's 161) gradients lie beyond
# 1e-3 of float64 depending on the variant alone. So a gradient beyond 1e-3 passes when fer is no further from
# float64 than 3x the farthest of those PyTorch float32 runs (make_verify_io.py's grad32spread.*); over seeds 0-2 at
# 7 and 1000 classes fer lies within 1.4x of it at worst. A real error (a wrong kernel) moves a gradient that these
# runs leave within rounding, and fails.
#   tools/verify_all.sh [BUILD_DIR]
# Environment: FER_TIMM_PYTHON  a Python with timm 0.9.2 and Debian's torch, for tf_efficientnet_b0_ns
#                               (/usr/bin/python3 -m venv --system-site-packages V && V/bin/pip install --no-deps timm==0.9.2)
#              FER_VERIFY_MODELS / FER_VERIFY_CLASSES / FER_VERIFY_SIZES  to run a subset
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
py=/usr/bin/python3
timm_py=${FER_TIMM_PYTHON:-$py}
models=${FER_VERIFY_MODELS:-"resnet18 resnet50 efficientnet_b0 mobilenet_v3_large mobilenet_v3_small shufflenet_v2_x0_5 shufflenet_v2_x1_0 densenet121 convnext_tiny tf_efficientnet_b0_ns"}
classes=${FER_VERIFY_CLASSES:-"7 1000"}
sizes=${FER_VERIFY_SIZES:-64,224,48,57,97}
tmp=$(mktemp -d /tmp/fer_verify_all.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
[ -x "$build/examples/verify" ] || { echo "verify_all: no $build/examples/verify (build the verify target)"; exit 2; }

echo "| model | classes | weights | output | rel-L2 | max-abs | tolerance | result |"
echo "|---|---:|---|---|---:|---:|---:|---|"
failed=0
for m in $models; do
  for c in $classes; do
    python=$py timm=()
    if [ "$m" = tf_efficientnet_b0_ns ]; then python=$timm_py timm=(--timm); fi
    fmt=zip legacy=()
    if [ "$c" = 1000 ]; then fmt=legacy legacy=(--legacy); fi
    w=$tmp/$m-$c.pt io=$tmp/$m-$c.io.safetensors
    if ! "$python" "$root/tools/make_verify_io.py" "$m" "${timm[@]}" "${legacy[@]}" --num-classes "$c" --sizes "$sizes" \
        --train-step --weights-out "$w" --io-out "$io" > "$tmp/make.log" 2>&1; then
      echo "| $m | $c | $fmt | (reference not made: $(tail -1 "$tmp/make.log")) | | | | FAIL |"
      failed=1
      continue
    fi
    "$build/examples/verify" --model "$m" --weights "$w" --io "$io" --train-step > "$tmp/verify.log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || failed=1
    if [ $rc -eq 2 ]; then
      echo "| $m | $c | $fmt | (verify refused: $(tail -1 "$tmp/verify.log")) | | | | FAIL |"
    else
      # logits per size and the loss, then the gradient closest to its tolerance.
      awk -v m="$m" -v c="$c" -v f="$fmt" '
        function tol_of(line) { sub(/.*\(tol /, "", line); sub(/[,)].*/, "", line); return line }
        function after(line, key) { sub(".*" key " ", "", line); sub(/ .*/, "", line); return line }
        function result(line) { r = line ~ /  ok \(/ ? "ok" : "FAIL"; if (line ~ /vs float64/) { ff = line; sub(/.*vs float64: /, "", ff); sub(/\)$/, "", ff); r = r " (vs float64: " ff ")" } return r }
        /warning:/ { warn++ }
        /^(logits|loss)/ { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", m, c, f, $1 ($1 ~ /logits/ ? " " $2 " " $3 : ""), after($0, "rel-L2"), after($0, "max-abs"), tol_of($0), result($0) }
        /^grad\./ { n++; if ($0 !~ /  ok \(/) bad++; if ($0 ~ /within --grad-atol/) { atol++; next }
                    if ($0 ~ /vs float64/) f64++
                    t = tol_of($0); if ($3 / t >= worst) { worst = $3 / t; wname = $1; wrel = $3; wabs = $5; wtol = t; wres = result($0) } }
        END { if (n) printf "| %s | %s | %s | %d gradients (%d beyond 1e-3 judged against float64%s); worst: %s | %s | %s | %s | %s%s |\n", m, c, f, n, f64,
                            atol ? ", " atol " zero up to rounding" : "", wname, wrel, wabs, wtol, wres, bad ? "; " bad " failing" : ""
              if (warn) printf "| %s | %s | %s | %d reference logits hardly depend on the input | | | | note |\n", m, c, f, warn }
' "$tmp/verify.log"
    fi
    # Eval mode once more with every batch norm apart from its convolution.
    if [ $rc -ne 2 ]; then
      "$build/examples/verify" --model "$m" --weights "$w" --io "$io" --no-fold > "$tmp/verify.log" 2>&1 || failed=1
      awk -v m="$m" -v c="$c" -v f="$fmt" '
        function after(line, key) { sub(".*" key " ", "", line); sub(/ .*/, "", line); return line }
        /^logits/ { t = $0; sub(/.*\(tol /, "", t); sub(/[,)].*/, "", t); r = $0 ~ /  ok \(/ ? "ok" : "FAIL"
                    if ($0 ~ /vs float64/) { ff = $0; sub(/.*vs float64: /, "", ff); sub(/\)$/, "", ff); r = r " (vs float64: " ff ")" }
                    printf "| %s | %s | %s | %s (--no-fold) | %s | %s | %s | %s |\n", m, c, f, $1 " " $2 " " $3,
                           after($0, "rel-L2"), after($0, "max-abs"), t, r }
        /error:/ { printf "| %s | %s | %s | (--no-fold refused: %s) | | | | FAIL |\n", m, c, f, $0 }' "$tmp/verify.log"
    fi
    rm -f "$w" "$io"
  done
done
exit $failed
