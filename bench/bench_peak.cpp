// This machine's peak FMA throughput: independent register-resident FMA chains on 1 and 2 threads, with
// 256-bit (AVX2, what the default -march=x86-64-v3 build can use) and 512-bit (AVX-512) vectors. The
// other benchmarks report their GFLOP/s against this ceiling.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <string>

namespace {

// Enough independent chains to cover FMA latency (4 cycles) times the FMA ports (2).
constexpr int kChains = 12;
constexpr int64_t kSteps = 1 << 16;

__attribute__((target("avx2,fma"))) float fma_chains_256(float seed) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(seed + float(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t s = 0; s < kSteps; ++s)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  return _mm256_cvtss_f32(sum);
}

__attribute__((target("avx512f"))) float fma_chains_512(float seed) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(seed + float(c));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t s = 0; s < kSteps; ++s)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_reduce_add_ps(sum);
}

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
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += width == 512 ? fma_chains_512(float(omp_get_thread_num())) : fma_chains_256(float(omp_get_thread_num()));
    benchmark::DoNotOptimize(sink);
  }
  const double flops = 2.0 * (width / 32) * kChains * double(kSteps) * threads;  // f32 lanes x 2 per FMA
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const int registered = [] {
  for (int width : {256, 512})
    for (int threads : {1, 2}) {
      std::string name = "peak fma" + std::to_string(width) + " f32 " + std::to_string(threads) + "t";
      benchmark::RegisterBenchmark(name.c_str(), peak, width, threads)->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
