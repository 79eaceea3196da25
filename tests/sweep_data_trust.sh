#!/usr/bin/env bash
# Issue 15 end to end (run by CTest), on tiny image folders written here (1 epoch of an mlp, seconds):
#  - AffectNet-style numbered folders (train_set/val_set) are refused without --label_space, and with it the sweep
#    runs with val_set as the test set, saying so in the log, sweep.json and the report;
#  - a run that fails (no synthetic images of a class) makes train_sweep exit 1 and is listed in the report;
#  - the report states data, generator, settings and fer version; index.html has the significance table;
#  - --clean writes cleaning.csv into the sweep directory with a train/validation duplicate and its partner;
#  - an unknown YAML key is an error naming the nearest valid key;
#  - extract_grid cuts grids with gutters, reports a seamless one and exits 1 after finishing the batch;
#  - train takes --label_space too, says that its test set is the validation split (log and config.json) and writes
#    cleaning.csv; `evaluate --run` reads the label space back from config.json.
# Usage: sweep_data_trust.sh TRAIN_SWEEP EXTRACT_GRID TRAIN EVALUATE WORKDIR
set -euo pipefail
sweep=$1
grid=$2
train=$3
evaluate=$4
work=$5
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

python3 - "$work" <<'EOF'
import os, random, struct, sys, zlib
def png(path, w, h, px):  # 8-bit grayscale
    os.makedirs(os.path.dirname(path), exist_ok=True)
    raw = b''.join(b'\x00' + bytes(px[y * w:(y + 1) * w]) for y in range(h))
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) +
                chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
rng = random.Random(0)
def face(c, side=16):
    return [min(255, max(0, (60 if c == 0 else 180) + rng.randint(-50, 50))) for _ in range(side * side)]
work = sys.argv[1]
for c in range(2):
    for i in range(12): png(f'{work}/affect/train_set/{c}/t{i}.png', 16, 16, face(c))
    for i in range(4): png(f'{work}/affect/val_set/{c}/v{i}.png', 16, 16, face(c))
for i in range(6): png(f'{work}/synth/0/s{i}.png', 16, 16, face(0))
# Grids of 2x2 faces of 16 px: with 4 px white gutters and a 3 px border, and seamless.
def grid(gutter, border):
    side = 2 * 16 + gutter + 2 * border
    px = [255] * (side * side)
    for r in range(2):
        for c in range(2):
            f = face(r)
            for y in range(16):
                for x in range(16):
                    px[(border + r * (16 + gutter) + y) * side + border + c * (16 + gutter) + x] = f[y * 16 + x]
    return side, px
side, px = grid(4, 3)
png(f'{work}/grids/happy/good.png', side, side, px)
side, px = grid(0, 0)
png(f'{work}/grids/happy/seamless.png', side, side, px)
EOF
# A training image that is also a validation (here: test) image: --clean must drop it and name its partner.
cp "$work/affect/val_set/1/v0.png" "$work/affect/train_set/1/dup.png"

args=(--real "$work/affect" --synthetic "$work/synth" --models mlp --ratios 0.0,1.0 --seeds 0 --epochs 1
      --input_size 16 --batch_size 8)

# 1. Numbered folders without --label_space: refused, telling what to pass.
set +e
"$sweep" "${args[@]}" --out "$work/refused" > "$work/refused.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "numbered folders without --label_space were accepted"
grep -q "pass --label_space" "$work/refused.log" || { cat "$work/refused.log"; fail "no hint to pass --label_space"; }

# 2. With it: r=1.0 trains, r=0.0 fails (no synthetic 'happy' images): exit 1, the report lists the failure.
set +e
"$sweep" "${args[@]}" --label_space custom:neutral,happy --clean --out "$work/sweep" > "$work/sweep.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$work/sweep.log"; fail "a sweep with a failed run exited $rc, not 1"; }
grep -q "sweep: 1 runs FAILED" "$work/sweep.log" || { cat "$work/sweep.log"; fail "the failed run is not reported in the log"; }
grep -q "note: no test split in .*its validation split is the test set" "$work/sweep.log" ||
  { cat "$work/sweep.log"; fail "the log does not say that the test set is the validation split"; }
md="$work/sweep/summary.md"
html="$work/sweep/index.html"
grep -q "## Failed runs" "$md" || fail "summary.md lists no failed runs"
grep -q "| mlp-r0.00-s0 | mix: class 1 needs" "$md" || fail "summary.md does not list mlp-r0.00-s0 with its error"
grep -q "mlp-r0.00-s0" "$html" || fail "index.html does not list the failed run"
for doc in "$md" "$html"; do
  grep -q "its validation split is the test set" "$doc" || fail "$doc does not say that the test set is the validation split"
  grep -qE "fer version: [0-9a-z]" "$doc" && ! grep -q "fer version: unknown" "$doc" || fail "$doc does not state the fer version"
  grep -q "synthetic data / generator: $work/synth" "$doc" || fail "$doc does not state the synthetic source"
  grep -q "label space custom" "$doc" || fail "$doc does not state the data"
done
grep -q '"settings_fingerprint"' "$work/sweep/sweep.json" || fail "no sweep.json"
grep -q '"label_space": "custom:neutral,happy"' "$work/sweep/sweep.json" || fail "sweep.json lacks the label space"
grep -q "^train,.*dup.png,duplicate across splits (a test image),test,.*val_set/1/v0.png$" "$work/sweep/cleaning.csv" ||
  { cat "$work/sweep/cleaning.csv"; fail "cleaning.csv does not list the train/test duplicate with its partner"; }

# 3. An unknown YAML key: an error naming the nearest valid key.
printf 'models: [mlp]\nratio: [1.0]\n' > "$work/typo.yaml"
set +e
"$sweep" --config "$work/typo.yaml" --out "$work/typo" > "$work/typo.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "an unknown YAML key was accepted"
grep -q "unknown key 'ratio' (did you mean 'ratios'?)" "$work/typo.log" || { cat "$work/typo.log"; fail "no nearest-key hint"; }

# 4. extract_grid: the grid with gutters is cut, the seamless one reported, the exit status says so.
set +e
"$grid" --in "$work/grids" --out "$work/faces" --rows 2 --cols 2 --size 16 > "$work/grid.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$work/grid.log"; fail "extract_grid exited $rc with a failed grid"; }
grep -q "1 grids -> 4 faces" "$work/grid.log" || { cat "$work/grid.log"; fail "the good grid was not cut into 4 faces"; }
grep -q "failed: .*seamless.png: no gutter or border" "$work/grid.log" || { cat "$work/grid.log"; fail "seamless grid not reported"; }
[ -s "$work/faces/happy/good_r1c1.png" ] || fail "missing face good_r1c1.png"
# 5. train: the same data options as the sweep.
set +e
"$train" --data_root "$work/affect" --model mlp --input_size 16 --epochs 1 --batch_size 8 --out "$work/train_refused" \
  > "$work/train_refused.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "train accepted numbered folders without --label_space"
grep -q "pass --label_space" "$work/train_refused.log" || { cat "$work/train_refused.log"; fail "train gave no --label_space hint"; }
"$train" --data_root "$work/affect" --label_space custom:neutral,happy --clean --model mlp --input_size 16 --epochs 1 \
  --batch_size 8 --out "$work/train_run" > "$work/train.log" 2>&1 || { cat "$work/train.log"; fail "train failed"; }
grep -q "note: no test split in .*its validation split is the test set" "$work/train.log" ||
  { cat "$work/train.log"; fail "train does not say that the test set is the validation split"; }
grep -q "dup.png,duplicate across splits (a test image),test," "$work/train_run/cleaning.csv" ||
  fail "train's cleaning.csv does not list the duplicate"
python3 - "$work/train_run/config.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))["data"]
assert d["label_space"] == "custom:neutral,happy", d
assert d["test_is_validation"] is True, d
assert "test = the source's validation split" in d["description"], d
EOF
"$evaluate" --run "$work/train_run" > "$work/evaluate.log" 2>&1 || { cat "$work/evaluate.log"; fail "evaluate --run failed"; }
echo "sweep/data trust: all checks passed"
