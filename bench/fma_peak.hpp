#pragma once
// The machine's f32 FMA ceiling: independent register-resident FMA chains, 256-bit (AVX2, what the default
// -march=x86-64-v3 build can use) and 512-bit (AVX-512) vectors. One call of fma_chains_<width> performs
// fma_flops_per_call(width) floating-point operations. Used by bench_peak, bench_ops, bench_gemm and bench_conv.
// Defined in fma_peak.cpp, compiled at -O3 whatever the benches' unit uses: the chains stay in registers only when
// their loop over the chains is unrolled.
#include <cstdint>

namespace fer::bench {

// Enough independent chains to cover FMA latency (4 cycles) times the FMA ports (2).
constexpr int kChains = 12;
constexpr int64_t kSteps = 1 << 16;

// f32 lanes x 2 flops per FMA, over every chain and step.
constexpr double fma_flops_per_call(int width) { return 2.0 * (width / 32) * kChains * double(kSteps); }

// One call of the chains of `width` bits on each of `threads` threads (fma_flops_per_call(width) * threads flops);
// returns their sum, which the caller keeps alive.
float run_fma_chains(int width, int threads);

// GFLOP/s of the chains of `width` bits (256 or 512; the CPU must have it) on `threads` threads, best of 5.
double fma_peak_gflops(int width, int threads);

}  // namespace fer::bench
