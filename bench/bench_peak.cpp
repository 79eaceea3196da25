// This machine's peak FMA throughput: independent register-resident FMA chains on 1 and 2 threads, with
// 256-bit (AVX2, what the default -march=x86-64-v3 build can use) and 512-bit (AVX-512) vectors. The
// other benchmarks report their GFLOP/s against this ceiling.
#include <benchmark/benchmark.h>

#include <string>

#include "fma_peak.hpp"
#include "registered_benchmarks.hpp"

namespace bench_peak {

namespace {

using fer::bench::fma_flops_per_call;
using fer::bench::run_fma_chains;

void peak(benchmark::State& state, int width, int threads) {
  if (width == 512 && !__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  if (width == 256 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
    state.SkipWithError("no AVX2/FMA on this CPU");
    return;
  }
  float sink = 0;
  for (auto _ : state) {
    sink += run_fma_chains(width, threads);
    benchmark::DoNotOptimize(sink);
  }
  const double flops = fma_flops_per_call(width) * threads;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void register_benchmarks() {
  for (int width : {256, 512})
    for (int threads : {1, 2}) {
      std::string name = "peak fma" + std::to_string(width) + " f32 " + std::to_string(threads) + "t";
      benchmark::RegisterBenchmark(name.c_str(), peak, width, threads)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace

int program_main(int argc, char** argv) {
  register_benchmarks();
  return run_registered_benchmarks(argc, argv);
}

}  // namespace bench_peak
