#!/usr/bin/env bash
# Subgroups end to end (run by CTest) on Fashion-MNIST with a made-up attributes CSV (even image index: female,
# odd: male): train with --subset_fraction, evaluate a --subset with per-subgroup reports, and a train_sweep with a
# --subset_fractions axis. Usage: subgroups_e2e.sh TRAIN EVALUATE TRAIN_SWEEP WORKDIR
set -euo pipefail
train=$1
evaluate=$2
sweep=$3
work=$4
rm -rf "$work"
mkdir -p "$work"
attrs="$work/attributes.csv"
{
  echo "file,gender,age_group"
  awk 'BEGIN { for (i = 0; i < 60000; i++) printf "train-images-idx3-ubyte.gz:%d,%s,%s\n", i, i % 2 ? "male" : "female", i % 3 ? "adult" : "young";
               for (i = 0; i < 10000; i++) printf "t10k-images-idx3-ubyte.gz:%d,%s,%s\n", i, i % 2 ? "male" : "female", i % 3 ? "adult" : "young" }'
  echo "no-such-file.png,female,young"
} > "$attrs"
common=(--data_root fashion-mnist --max_classes 3 --limit_train 300 --limit_eval 150 --model mlp --input_size 16
        --epochs 1 --batch_size 32)

# 1. train: all women, half of the men; per-subgroup test report.
"$train" "${common[@]}" --attributes "$attrs" --subset_fraction "gender=female:1.0,male:0.5" --bootstrap 200 \
  --out "$work/train" > "$work/train.log"
python3 - "$work/train" <<'EOF'
import csv, json, sys
run = sys.argv[1]
rows = list(csv.DictReader(open(f"{run}/subset_manifest.csv")))
female = sum(r["gender"] == "female" for r in rows)
male = sum(r["gender"] == "male" for r in rows)
info = json.load(open(f"{run}/subset.json"))["selection"]["values"]
assert info[0]["value"] == "female" and info[0]["kept"] == info[0]["available"] == female, (info, female)
assert info[1]["value"] == "male" and male == round(0.5 * info[1]["available"]), (info, male)
assert all(int(r["id"].rsplit(":", 1)[1]) % 2 == (r["gender"] == "male") for r in rows)
man = list(csv.DictReader(open(f"{run}/manifest.csv")))
assert len(man) == female + male, (len(man), female, male)
sub = json.load(open(f"{run}/subgroups.json"))
assert [r["attribute"] for r in sub["reports"]] == ["gender", "age_group"]
g = {x["value"]: x for x in sub["reports"][0]["groups"]}
assert g["all"]["n"] == 150 and g["female"]["n"] + g["male"]["n"] == 150, g
assert sub["rows_matching_no_image"] > 0 and sub["images_without_row"] == 0
for x in g.values():
    a = x["accuracy"]
    assert a["ci_low"] <= a["value"] <= a["ci_high"], x
print("train:", female, "women,", male, "men; test accuracy", g["all"]["accuracy"])
EOF

# 2. evaluate: women only, subgroups by age group.
"$evaluate" --checkpoint "$work/train/checkpoints/best" --model mlp --data_root fashion-mnist --max_classes 3 \
  --limit_eval 150 --input_size 16 --attributes "$attrs" --subset "gender=female" --subgroups age_group \
  --out "$work/eval" > "$work/eval.log"
python3 - "$work" <<'EOF'
import json, sys
m = json.load(open(f"{sys.argv[1]}/eval/metrics.json"))
sub = json.load(open(f"{sys.argv[1]}/train/subgroups.json"))
women = [x for x in sub["reports"][0]["groups"] if x["value"] == "female"][0]
assert m["num_samples"] == women["n"], (m["num_samples"], women["n"])
assert abs(m["accuracy"] - women["accuracy"]["value"]) < 1e-12, (m["accuracy"], women["accuracy"])
rep = m["subgroups"]["reports"]
assert [r["attribute"] for r in rep] == ["age_group"] and rep[0]["groups"][0]["n"] == women["n"]
print("evaluate: women", m["num_samples"], "accuracy", m["accuracy"])
EOF

# 3. train_sweep: two subset fractions as a sweep axis.
"$sweep" --models mlp --ratios 1.0 --seeds 0 --epochs 1 --input_size 16 --batch_size 32 --max_classes 3 \
  --limit_train 300 --limit_eval 150 --real fashion-mnist --attributes "$attrs" \
  --subset_fractions "gender=female:1.0,male:0.5|gender=female:0.5,male:1.0" --out "$work/sweep" > "$work/sweep.log"
for id in mlp-r1.00-s0-gender-female1.0-male0.5 mlp-r1.00-s0-gender-female0.5-male1.0; do
  test -f "$work/sweep/runs/$id/metrics.json" && test -f "$work/sweep/runs/$id/subgroups.md" &&
    test -f "$work/sweep/runs/$id/subset_manifest.csv" || { echo "missing outputs of $id"; exit 1; }
done
for label in gender-female1.0-male0.5 gender-female0.5-male1.0; do
  test -f "$work/sweep/subsets/$label/summary.md" || { echo "no report for $label"; exit 1; }
done
echo "subgroups end to end: ok"
