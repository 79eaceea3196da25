#!/usr/bin/env bash
# Build cost of fer in CPU seconds (user+sys, so a machine shared with other jobs still gives comparable figures):
#   1. a clean build of every target (library, examples, tests, benches), ccache disabled;
#   2. the rebuild after touching include/fer/core/tensor.hpp;
#   3. the rebuild after touching include/fer/train/trainer.hpp, per program.
# 2 and 3 are priced from the clean build's per-command CPU times (what ninja would rerun); FER_MEASURE_REBUILD=1
# also runs those rebuilds and times them.
# Every compile and link runs under /usr/bin/time (through CMake's compiler/linker launchers), so the script also
# lists the translation units that cost most.
#
#   tools/measure_build.sh [SOURCE_DIR [BUILD_DIR]]      (or --price BUILD_DIR: step 2 and 3 on a measured build)
#   FER_MEASURE_JOBS=2 (parallel jobs)   FER_MEASURE_CUDA=ON|OFF (default ON, sm_90 only)   FER_MEASURE_TOP=15
#
# BUILD_DIR (default SOURCE_DIR/build-measure) is deleted first. Ninja is used (no make recursion in the figures).
set -euo pipefail

# Launcher mode: CMake calls "measure_build.sh --tu LOG <compiler or linker command...>".
if [[ "${1:-}" == "--tu" ]]; then
  log=$2; shift 2
  out=unknown
  args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    [[ "${args[i]}" == "-o" ]] && out=${args[i + 1]:-unknown}
  done
  times=$(mktemp)
  status=0
  /usr/bin/time -f "%U %S" -o "$times" "$@" || status=$?
  printf '%s %s\n' "$(tail -n 1 "$times")" "$out" >> "$log"
  rm -f "$times"
  exit $status
fi

self=$(readlink -f "$0")
price_only=0
if [[ "${1:-}" == "--price" ]]; then
  price_only=1
  build=$(readlink -f "$2")
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
else
  src=$(readlink -f "${1:-$(dirname "$self")/..}")
  build=${2:-$src/build-measure}
fi
jobs=${FER_MEASURE_JOBS:-2}
cuda=${FER_MEASURE_CUDA:-ON}
top=${FER_MEASURE_TOP:-15}
log=$build/measure_tu.log
export CCACHE_DISABLE=1

load() { cut -d' ' -f1-3 /proc/loadavg; }

# Sums of the launcher log: "cpu_s compiles links" (a link is a command whose output has no .o).
summary() {
  awk '{cpu = $1 + $2; if ($3 ~ /\.o$/) {c++; cc += cpu} else {l++; lc += cpu}}
       END {printf "%.1f CPU-s in %d compiles (%.1f CPU-s) and %d links (%.1f CPU-s)", cc + lc, c, cc, l, lc}' "$log"
}

# Runs the build, prints total CPU-s of the whole build process tree (ninja, cmake and compilers included).
timed_build() {
  local t; t=$(mktemp)
  : > "$log"
  /usr/bin/time -f "%U %S %e" -o "$t" cmake --build "$build" -j "$jobs" > "$build/measure_build.out" 2>&1 ||
    { tail -n 30 "$build/measure_build.out"; echo "measure_build: build failed" >&2; exit 1; }
  awk '{printf "%.1f CPU-s (user %.1f + sys %.1f), wall %.0f s", $1 + $2, $1, $2, $3}' "$t"
  rm -f "$t"
}

if [[ $price_only == 0 ]]; then
  echo "source  $src ($(git -C "$src" describe --always --dirty 2>/dev/null || echo '?'))"
  echo "build   $build, -j$jobs, ninja, Release, CUDA $cuda, ccache disabled; $(nproc) cores, load $(load)"
  rm -rf "$build"
  cuda_args=(-DFER_WITH_CUDA=OFF)
  if [[ "$cuda" == ON ]]; then
    cuda_args=(-DFER_WITH_CUDA=ON -DFER_CUDA_ARCHITECTURES=90 "-DCMAKE_CUDA_COMPILER_LAUNCHER=$self;--tu;$log")
  fi
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}" \
    "-DCMAKE_CXX_COMPILER_LAUNCHER=$self;--tu;$log" "-DCMAKE_CXX_LINKER_LAUNCHER=$self;--tu;$log" \
    > "$build.configure.log" 2>&1 || { tail -n 30 "$build.configure.log"; exit 1; }
  mv "$build.configure.log" "$build/configure.log"

  echo
  echo "== clean build of all targets"
  echo "total   $(timed_build)"
  echo "        $(summary); load after $(load)"
  cp "$log" "$build/measure_tu.clean.log"
  echo "costliest translation units (CPU-s):"
  awk '$3 ~ /\.o$/ {printf "%8.1f  %s\n", $1 + $2, $3}' "$log" | sort -rn | head -n "$top" |
    sed -E 's#CMakeFiles/[^ ]*\.dir/##'
  echo "CUDA (.cu) compiles: $(awk '$3 ~ /\.cu\.o$/ {n++; s += $1 + $2} END {printf "%d, %.1f CPU-s", n, s}' "$log")"
fi

# The rebuild a header edit causes: the objects whose recorded dependencies (ninja -t deps) hold the header, and the
# programs linking one of them (ninja -t inputs), priced with each command's CPU time from the clean build.
# FER_MEASURE_REBUILD=1 also touches the header and times the real rebuild.
for header in include/fer/core/tensor.hpp include/fer/train/trainer.hpp; do
  echo
  echo "== rebuild after touching $header"
  ninja -C "$build" -t deps | awk -v h="$src/$header" '/^[^ ].*: #deps/ {o = $1; sub(/:$/, "", o)} $1 == h {print o}' \
    > "$build/measure_outputs.txt"
  awk '$3 !~ /\.o$/ {print $3}' "$build/measure_tu.clean.log" | while read -r program; do
    if ninja -C "$build" -t inputs "$program" | grep -xFf "$build/measure_outputs.txt" > /dev/null; then echo "$program"; fi
  done >> "$build/measure_outputs.txt"
  awk 'NR == FNR {cost[$3] = $1 + $2; next}
       {if ($1 ~ /\.o$/) c++; else l++; s += cost[$1]}
       END {printf "priced  %.1f CPU-s: %d compiles and %d links rerun\n", s, c, l}' \
    "$build/measure_tu.clean.log" "$build/measure_outputs.txt"
  if [[ "$header" == *trainer.hpp ]]; then
    echo "per program (compile + link CPU-s):"
    # A program's object is .../<name>.dir/<name>.cpp.o and its link output is .../<name>.
    awk 'NR == FNR {cost[$3] = $1 + $2; next}
         {n = $1; sub(/.*\//, "", n); sub(/\.cpp\.o$/, "", n); sum[n] += cost[$1]}
         END {for (p in sum) printf "%8.1f  %s\n", sum[p], p}' \
      "$build/measure_tu.clean.log" "$build/measure_outputs.txt" | sort -rn
  fi
  if [[ "${FER_MEASURE_REBUILD:-0}" == 1 ]]; then
    touch "$src/$header"
    echo "rebuilt $(timed_build)"
    echo "        $(summary); load after $(load)"
  fi
done
