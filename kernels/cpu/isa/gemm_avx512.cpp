// The f32 GEMM on AVX-512 (16-lane zmm registers). Compiled with -march=x86-64-v4 whatever the library's -march
// (CMakeLists.txt), and only called where the CPU has AVX-512 F/BW/DQ/VL/CD (kernels/cpu/cpu_isa.cpp).
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/isa/conv_gemm_f32.hpp"
#include "kernels/cpu/isa/gemm_f32.hpp"

#if !defined(__AVX512F__)
#error "gemm_avx512.cpp must be compiled with -march=x86-64-v4 (AVX-512)"
#endif

namespace {

struct V {
  using reg = __m512;
  static constexpr int lanes = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, reg r) { _mm512_storeu_ps(p, r); }
  static reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static reg fma(reg a, reg b, reg acc) { return _mm512_fmadd_ps(a, b, acc); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
};

#include "kernels/cpu/isa/gemm_blocked.inl"
#include "kernels/cpu/isa/conv_gemm_blocked.inl"

constexpr fer::cpu::isa::Blocking kB = fer::cpu::isa::kAvx512Blocking;

}  // namespace

namespace fer::cpu::isa {

void gemm_f32_avx512(const GemmF32& g, float* a_pack, float* b_pack) {
  gemm_blocked<V, kB.mr, kB.nr / V::lanes, kB.mc, kB.kc, kB.nc>(g, a_pack, b_pack);
}

void conv_gemm_f32_avx512(const ConvGemmF32& g, float* a_pack, float* b_pack) {
  conv_gemm_blocked<V, kB.mr, kB.nr / V::lanes, kB.mc, kB.kc, kB.nc>(g, a_pack, b_pack);
}

void conv_wgrad_f32_avx512(const ConvWgradF32& g, float* a_pack, float* b_pack) {
  conv_wgrad_blocked<V, kB.mr, kB.nr / V::lanes, kB.mc, kB.kc, kB.nc>(g, a_pack, b_pack);
}

}  // namespace fer::cpu::isa
