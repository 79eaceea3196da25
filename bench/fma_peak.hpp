#pragma once
// The machine's f32 FMA ceiling: independent register-resident FMA chains, 256-bit (AVX2, what the default
// -march=x86-64-v3 build can use) and 512-bit (AVX-512) vectors. One call of fma_chains_<width> performs
// fma_flops_per_call(width) floating-point operations. Used by bench_peak and bench_ops.
#include <immintrin.h>

#include <cstdint>

namespace fer::bench {

// Enough independent chains to cover FMA latency (4 cycles) times the FMA ports (2).
constexpr int kChains = 12;
constexpr int64_t kSteps = 1 << 16;

__attribute__((target("avx2,fma"))) inline float fma_chains_256(float seed) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(seed + float(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t s = 0; s < kSteps; ++s)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  return _mm256_cvtss_f32(sum);
}

__attribute__((target("avx512f"))) inline float fma_chains_512(float seed) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(seed + float(c));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t s = 0; s < kSteps; ++s)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_reduce_add_ps(sum);
}

// f32 lanes x 2 flops per FMA, over every chain and step.
constexpr double fma_flops_per_call(int width) { return 2.0 * (width / 32) * kChains * double(kSteps); }

}  // namespace fer::bench
