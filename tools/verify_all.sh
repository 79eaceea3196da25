#!/usr/bin/env bash
# examples/verify on all ten backbones, at 64, 224, 48, 57 and 97 px, with 7 and 1000 classes: for each model and
# class count, tools/make_verify_io.py writes library-initialized weights (BN statistics perturbed; torch.save's zip
# format for 7 classes, its legacy format for 1000) and the reference logits at the five sizes plus one training
# step at 64 px (loss and every gradient) into a temporary directory, and verify compares. Prints a Markdown table
# and exits non-zero if any comparison fails.
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
    rm -f "$w" "$io"
  done
done
exit $failed
