#!/usr/bin/env bash
# verify, train --pretrained and evaluate --weights with PyTorch .pt files, end to end (run by CTest).
# Usage: test_verify_cli.sh BUILD_EXAMPLES_DIR WORKDIR
set -uo pipefail
bin=$1
work=$2
data=$(dirname "$0")/data
rm -rf "$work" && mkdir -p "$work"
failures=0
expect() {  # expect NAME STATUS PATTERN COMMAND...: exit status and a line of the output
  local name=$1 status=$2 pattern=$3
  shift 3
  "$@" > "$work/$name.log" 2>&1
  local rc=$?
  if [ "$rc" -ne "$status" ] || ! grep -qE -- "$pattern" "$work/$name.log"; then
    echo "FAILED $name: exit $rc (expected $status), pattern '$pattern'"
    cat "$work/$name.log"
    failures=$((failures + 1))
  else
    echo "ok $name"
  fi
}
io=$data/verify/shufflenet_v2_x0_5_c7.io.safetensors
w=$data/verify/shufflenet_v2_x0_5_c7_f16.pt

# torchvision's ShuffleNetV2 x0.5 (f16 weights by torch.save): logits at 48 and 57 px and one training step.
expect verify_pass 0 "shufflenet_v2_x0_5: PASS" "$bin/verify" --model shufflenet_v2_x0_5 --weights "$w" --io "$io" --train-step \
  --dump "$work/dump.safetensors"
expect verify_dump 0 "dump.safetensors" ls -s "$work/dump.safetensors"
# Eval mode with conv -> BN pairs folded (the default, as evaluate and predict run) and apart (--no-fold): both
# within the tolerance, and the folded run does fold.
expect verify_folded 0 "conv -> BN pairs folded into their convolutions" "$bin/verify" --model shufflenet_v2_x0_5 \
  --weights "$w" --io "$io" --float32-only
expect verify_no_fold 0 "shufflenet_v2_x0_5: PASS" "$bin/verify" --model shufflenet_v2_x0_5 --weights "$w" --io "$io" \
  --no-fold --float32-only
expect verify_no_fold_says 0 "run apart \(--no-fold\)" cat "$work/verify_no_fold.log"
# Above the tolerance: exit 1.
expect verify_tolerance 1 "FAIL" "$bin/verify" --model shufflenet_v2_x0_5 --weights "$w" --io "$io" --tol 1e-12 --float32-only
# Weights of another model: refused (exit 2), with the missing and unexpected keys listed.
expect verify_wrong_model 2 "missing: conv1.weight bn1.weight" "$bin/verify" --model resnet18 --weights "$w" --io "$io"
expect verify_wrong_model_unexpected 2 "unexpected: conv1.0.weight" "$bin/verify" --model resnet18 --weights "$w" --io "$io"
expect verify_hostile 2 "posix.system, which fer never runs" "$bin/verify" --model shufflenet_v2_x0_5 \
  --weights "$data/pt/bad_os_system.pt" --io "$io"

# The thesis's path: tf_efficientnet_b0_ns from a state dict without classifier, 8 classes, ImageNet normalization.
if [ -d /usr/share/datasets/fashion-mnist ]; then
  gzip -dc "$data/pt/thesis_shape.pt.gz" > "$work/state.pt"
  expect thesis_train 0 "head re-initialized \(not in the file or of another size\): classifier.weight classifier.bias" \
    "$bin/train" --data_root fashion-mnist --max_classes 8 --limit_train 48 --limit_eval 16 --model tf_efficientnet_b0_ns \
    --pretrained "$work/state.pt" --input_size 32 --imagenet_norm --epochs 1 --batch_size 16 --out "$work/thesis"
  expect thesis_evaluate 0 "accuracy" "$bin/evaluate" --weights "$work/thesis/checkpoints/best/model.safetensors" \
    --model tf_efficientnet_b0_ns --data_root fashion-mnist --max_classes 8 --limit_eval 16 --input_size 32 --imagenet_norm \
    --out "$work/thesis_eval"
  expect pretrained_other_architecture 1 "refusing these weights: only 0 of the model's 100 backbone tensors would load" \
    "$bin/train" --data_root fashion-mnist --max_classes 8 --limit_train 48 --limit_eval 16 --model resnet18 \
    --pretrained "$data/pt/zip_f32.pt" --input_size 32 --epochs 1 --out "$work/refused"
  expect evaluate_pt 0 "torch zip, 338 tensors\): 338 loaded" "$bin/evaluate" --weights "$w" --model shufflenet_v2_x0_5 \
    --data_root fashion-mnist --max_classes 7 --limit_eval 14 --input_size 48 --out "$work/eval_pt"
  # --checkpoint takes a weights file of any format too, through the same strict loader as --weights.
  expect evaluate_checkpoint_pt 0 "torch zip, 338 tensors\): 338 loaded" "$bin/evaluate" --checkpoint "$w" \
    --model shufflenet_v2_x0_5 --data_root fashion-mnist --max_classes 7 --limit_eval 14 --input_size 48 \
    --out "$work/eval_checkpoint_pt"
  expect evaluate_checkpoint_dir 0 "model.safetensors \(safetensors, [0-9]+ tensors\): [0-9]+ loaded" "$bin/evaluate" \
    --checkpoint "$work/thesis/checkpoints/best" --model tf_efficientnet_b0_ns --data_root fashion-mnist --max_classes 8 \
    --limit_eval 16 --input_size 32 --imagenet_norm --out "$work/thesis_eval_checkpoint"
  expect evaluate_checkpoint_strict 1 "missing: conv1.weight" "$bin/evaluate" --checkpoint "$data/pt/zip_f32.pt" \
    --model resnet18 --data_root fashion-mnist --max_classes 8 --limit_eval 16 --input_size 32 --out "$work/eval_refused2"
  expect evaluate_pt_weights 1 "missing: conv1.weight" "$bin/evaluate" --weights "$data/pt/zip_f32.pt" --model resnet18 \
    --data_root fashion-mnist --max_classes 8 --limit_eval 16 --input_size 32 --out "$work/eval_refused"
fi
[ "$failures" -eq 0 ]
