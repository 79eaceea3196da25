// The FMA chains of fma_peak.hpp.
#include "fma_peak.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

namespace fer::bench {

namespace {

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

}  // namespace

float run_fma_chains(int width, int threads) {
  float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += width == 512 ? fma_chains_512(float(omp_get_thread_num())) : fma_chains_256(float(omp_get_thread_num()));
  return sink;
}

double fma_peak_gflops(int width, int threads) {
  double best = 1e30;
  float sink = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    sink += run_fma_chains(width, threads);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  volatile float keep = sink;  // keeps the chains alive
  (void)keep;
  return fma_flops_per_call(width) * threads / best * 1e-9;
}

}  // namespace fer::bench
