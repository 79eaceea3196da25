#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, CPU only) in build-fuzz/, replays the committed
# regression corpus tests/fuzz/regressions/<parser>/, then fuzzes each target for a fixed time. Fails on any finding
# (crash, sanitizer report, exception other than fer::Error, input slower than 10 s or above 2 GB).
#   tools/run_fuzz.sh            20 s per target
#   FER_FUZZ_RUNS=50000 tools/run_fuzz.sh   reproducible: that many inputs per target from a fixed seed
#                                (FER_FUZZ_SEED, default 1) and a fresh corpus, so a run's verdict does not depend on
#                                luck or on the machine's speed (tools/test.sh, hence CI, uses this mode)
#   tools/run_fuzz.sh 3600       an hour per target; the corpus grows in build-fuzz/corpus/<parser>/ across runs
#   tools/run_fuzz.sh 600 pickle only fuzz_pickle (further names: more targets)
#   FER_FUZZ_JOBS=1 tools/run_fuzz.sh    one target at a time (default: as many at once as there are cores)
# A finding is written to build-fuzz/findings/<parser>/ (crash-*, timeout-*, oom-*): once fixed, commit it to
# tests/fuzz/regressions/<parser>/ so every later run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
jobs=$(nproc)

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DFER_FUZZ=ON -DFER_WITH_CUDA=OFF \
  -DFER_BUILD_TESTS=OFF -DFER_BUILD_EXAMPLES=OFF -DFER_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$jobs"

targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in tests/fuzz/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    targets+=("${name#fuzz_}")
  done
fi

# Targets run side by side, FER_FUZZ_JOBS at a time (default: one per core; each target is single-threaded). A
# target's messages are printed together once it ends; its verdict lands in build-fuzz/findings/<parser>/verdict.
fuzz_one() {
  local parser=$1
  local exe=build-fuzz/tests/fuzz/fuzz_$parser src=tests/fuzz/fuzz_$parser.cpp
  local findings=build-fuzz/findings/$parser corpus=build-fuzz/corpus/$parser
  mkdir -p "$findings" "$corpus"
  local limits=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$findings/")

  local regressions=(tests/fuzz/regressions/"$parser"/*)
  if [[ -e ${regressions[0]} ]]; then
    echo "run_fuzz: $parser: replaying ${#regressions[@]} regression inputs"
    if ! "$exe" "${limits[@]}" "${regressions[@]}" >"$findings/replay.log" 2>&1; then
      tail -n 40 "$findings/replay.log"
      echo "$parser (regression corpus)" >"$findings/verdict"
      return
    fi
  fi

  # Seed directories: named in the target's "// seeds:" line (test data, tests/fuzz/seeds/...).
  local seeds=() budget=()
  for dir in $(sed -n 's|^// seeds: *\([^(]*\).*|\1|p' "$src"); do
    [[ -d $dir ]] && seeds+=("$dir")
  done
  [[ -d tests/fuzz/regressions/$parser ]] && seeds+=("tests/fuzz/regressions/$parser")
  if [[ -n ${FER_FUZZ_RUNS:-} ]]; then
    budget=(-runs="$FER_FUZZ_RUNS" -seed="${FER_FUZZ_SEED:-1}")
    corpus=$(mktemp -d)
    echo "run_fuzz: $parser: $FER_FUZZ_RUNS inputs from seed ${FER_FUZZ_SEED:-1} (seeds: ${seeds[*]:-none})"
  else
    budget=(-max_total_time="$seconds")
    echo "run_fuzz: $parser: fuzzing for ${seconds} s (seeds: ${seeds[*]:-none})"
  fi
  if ! "$exe" "${limits[@]}" "${budget[@]}" -print_final_stats=1 "$corpus" "${seeds[@]}" \
      >"$findings/fuzz.log" 2>&1; then
    tail -n 60 "$findings/fuzz.log"
    echo "$parser" >"$findings/verdict"
    return
  fi
  grep -E "^stat::number_of_executed_units|^#[0-9]+ +DONE" "$findings/fuzz.log" | tr '\n' ' ' | sed "s|^|run_fuzz: $parser: |"
  echo
  echo ok >"$findings/verdict"
}

for parser in "${targets[@]}"; do
  [[ -x build-fuzz/tests/fuzz/fuzz_$parser ]] || { echo "run_fuzz: no target fuzz_$parser" >&2; exit 2; }
  rm -f "build-fuzz/findings/$parser/verdict"
done
fuzz_jobs=${FER_FUZZ_JOBS:-$jobs}
running=0
for parser in "${targets[@]}"; do
  if ((running >= fuzz_jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
  mkdir -p "build-fuzz/findings/$parser"
  (fuzz_one "$parser" >"build-fuzz/findings/$parser/messages.log" 2>&1; cat "build-fuzz/findings/$parser/messages.log") &
  running=$((running + 1))
done
wait

failed=()
for parser in "${targets[@]}"; do
  verdict=$(cat "build-fuzz/findings/$parser/verdict" 2>/dev/null || echo "$parser (no verdict)")
  [[ $verdict == ok ]] || failed+=("$verdict")
done

if ((${#failed[@]})); then
  echo "run_fuzz: FINDINGS in: ${failed[*]} (inputs in build-fuzz/findings/)" >&2
  exit 1
fi
echo "run_fuzz: no findings in ${#targets[@]} targets"
