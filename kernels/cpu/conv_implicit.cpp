// The implicit-GEMM forward pass and weight gradient of a KxK convolution (contract: kernels/cpu/conv_implicit.hpp).
#include "kernels/cpu/conv_implicit.hpp"

#include <atomic>
#include <cstdlib>
#include <string_view>

#include "fer/core/error.hpp"
#include "fer/kernels/cpu_isa.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/isa/conv_gemm_f32.hpp"

namespace fer::kernels {

namespace {

#ifdef FER_HAVE_ISA_KERNELS
cpu::isa::ConvGemmF32Kernel implicit_kernel() {
  switch (cpu_isa()) {
    case CpuIsa::avx2: return cpu::isa::conv_gemm_f32_avx2;
    case CpuIsa::avx512: return cpu::isa::conv_gemm_f32_avx512;
    default: return nullptr;
  }
}

cpu::isa::ConvWgradF32Kernel wgrad_kernel() {
  switch (cpu_isa()) {
    case CpuIsa::avx2: return cpu::isa::conv_wgrad_f32_avx2;
    case CpuIsa::avx512: return cpu::isa::conv_wgrad_f32_avx512;
    default: return nullptr;
  }
}

cpu::isa::ConvInputF32 conv_input(const ConvGeometry& g, const float* x) {
  return {g.n, g.h, g.w, g.c, g.o, g.kh, g.kw, g.ho, g.wo, g.stride_h, g.stride_w, g.pad_top, g.pad_left,
          g.dil_h, g.dil_w, x};
}
#endif

bool implicit_gemm_applies(const ConvGeometry& g) {
#ifdef FER_HAVE_ISA_KERNELS
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
                         g.pad_left == 0 && g.ho == g.h && g.wo == g.w;
  return g.groups == 1 && !pointwise && g.kh * g.kw <= cpu::isa::kMaxImplicitTaps;
#else
  (void)g;
  return false;
#endif
}

ConvImplicitMode mode_from_env() {
  const char* env = std::getenv("FER_CONV_IMPLICIT");
  if (!env || !*env) return ConvImplicitMode::automatic;
  const std::string_view v(env);
  FER_CHECK(v == "auto" || v == "0" || v == "1", "FER_CONV_IMPLICIT must be auto, 1 or 0, not '", env, "'");
  return v == "1" ? ConvImplicitMode::always : v == "0" ? ConvImplicitMode::never : ConvImplicitMode::automatic;
}

std::atomic<ConvImplicitMode>& mode() {
  static std::atomic<ConvImplicitMode> m{mode_from_env()};
  return m;
}

bool kernel_available() {
#ifdef FER_HAVE_ISA_KERNELS
  return implicit_kernel() != nullptr;
#else
  return false;
#endif
}

// Whether the choice is forced (the result in `chosen`) or left to the measured rule.
bool forced(const ConvGeometry& g, bool& chosen) {
  const ConvImplicitMode m = mode().load(std::memory_order_relaxed);
  if (!implicit_gemm_applies(g) || !kernel_available() || m == ConvImplicitMode::never) return chosen = false, true;
  if (m == ConvImplicitMode::always) return chosen = true, true;
  return false;
}

}  // namespace

void set_conv_implicit_mode(ConvImplicitMode m) { mode().store(m, std::memory_order_relaxed); }
ConvImplicitMode conv_implicit_mode() { return mode().load(std::memory_order_relaxed); }

// The measured rule (bench/README.md, "Implicit GEMM for KxK convolutions"): the forward pass on both ISAs with at
// least 16 input channels (shorter tap segments break the micro-kernel's k loop into short runs); the weight
// gradient on AVX-512 with at least 128 input channels (with 64 it measured 0.87-0.92 of im2col; on AVX2 the
// im2col product runs on Eigen, which beat fer's AVX2 kernel there).
bool conv_implicit_forward_chosen(const ConvGeometry& g) {
  bool chosen;
  if (forced(g, chosen)) return chosen;
  return g.c >= 16;
}

bool conv_implicit_wgrad_chosen(const ConvGeometry& g) {
  bool chosen;
  if (forced(g, chosen)) return chosen;
  return g.c >= 128 && cpu_isa() == CpuIsa::avx512;
}

void conv_implicit_gemm_forward(const ConvGeometry& g, const float* x, const float* w, float* y, int64_t p0,
                                int64_t p1, bool accumulate) {
#ifdef FER_HAVE_ISA_KERNELS
  const cpu::isa::ConvGemmF32Kernel kernel = implicit_kernel();
  FER_CHECK(kernel && implicit_gemm_applies(g), "implicit-GEMM convolution: not available here");
  const int64_t k = g.kh * g.kw * g.c;
  cpu::isa::run_conv_gemm_f32(kernel, {conv_input(g, x), w, y, p0, p1, accumulate, cpu::f32_k_block(k)});
#else
  (void)g, (void)x, (void)w, (void)y, (void)p0, (void)p1, (void)accumulate;
  FER_CHECK(false, "implicit-GEMM convolution: not available on this architecture");
#endif
}

void conv_implicit_gemm_weight_grad(const ConvGeometry& g, const float* gy, int64_t ld_gy, const float* x, float* gw,
                                    int64_t m, int64_t p0, int64_t p1) {
#ifdef FER_HAVE_ISA_KERNELS
  const cpu::isa::ConvWgradF32Kernel kernel = wgrad_kernel();
  FER_CHECK(kernel && implicit_gemm_applies(g), "implicit-GEMM convolution: not available here");
  cpu::isa::run_conv_wgrad_f32(kernel, {conv_input(g, x), gy, ld_gy, gw, m, p0, p1, cpu::f32_k_block(p1 - p0)});
#else
  (void)g, (void)gy, (void)ld_gy, (void)x, (void)gw, (void)m, (void)p0, (void)p1;
  FER_CHECK(false, "implicit-GEMM convolution: not available on this architecture");
#endif
}

}  // namespace fer::kernels
