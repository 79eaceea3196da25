// The f32 GEMM on AVX2+FMA (8-lane ymm registers). Compiled with -march=x86-64-v3 whatever the library's -march
// (CMakeLists.txt), and only called where the CPU has AVX2 and FMA (kernels/cpu/cpu_isa.cpp).
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/isa/conv_gemm_f32.hpp"
#include "kernels/cpu/isa/gemm_f32.hpp"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "gemm_avx2.cpp must be compiled with -march=x86-64-v3 (AVX2 + FMA)"
#endif

namespace {

struct V {
  using reg = __m256;
  static constexpr int lanes = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, reg r) { _mm256_storeu_ps(p, r); }
  static reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static reg fma(reg a, reg b, reg acc) { return _mm256_fmadd_ps(a, b, acc); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
};

#include "kernels/cpu/isa/gemm_blocked.inl"
#include "kernels/cpu/isa/conv_gemm_blocked.inl"

constexpr fer::cpu::isa::Blocking kB = fer::cpu::isa::kAvx2Blocking, kW = fer::cpu::isa::kAvx512Blocking;
static_assert(kB.mr * kB.kc <= fer::cpu::isa::kPackAFloats && kB.mc * kB.kc <= fer::cpu::isa::kPackAFloats);
static_assert(kB.kc * kB.nc <= fer::cpu::isa::kPackBFloats && kW.kc * kW.nc <= fer::cpu::isa::kPackBFloats);

}  // namespace

namespace fer::cpu::isa {

void gemm_f32_avx2(const GemmF32& g, float* a_pack, float* b_pack) {
  gemm_blocked<V, kB.mr, kB.nr / V::lanes, kB.mc, kB.kc, kB.nc>(g, a_pack, b_pack);
}

void gemm_f32_avx2_wide_tile(const GemmF32& g, float* a_pack, float* b_pack) {
  gemm_blocked<V, kW.mr, kW.nr / V::lanes, kW.mc, kW.kc, kW.nc>(g, a_pack, b_pack);
}

void conv_gemm_f32_avx2(const ConvGemmF32& g, float* a_pack, float* b_pack) {
  conv_gemm_blocked<V, kB.mr, kB.nr / V::lanes, kB.mc, kB.kc, kB.nc>(g, a_pack, b_pack);
}

void conv_wgrad_f32_avx2(const ConvWgradF32& g, float* a_pack, float* b_pack) {
  conv_wgrad_blocked<V, kB.mr, kB.nr / V::lanes, kB.mc, kB.kc, kB.nc>(g, a_pack, b_pack);
}

}  // namespace fer::cpu::isa
