#pragma once
// The implicit-GEMM kernels of a KxK convolution (one group, NHWC input, OHWI weight), one per instruction set
// (kernels/cpu/isa/conv_gemm_blocked.inl, compiled into gemm_<isa>.cpp), for a range of output pixels:
// - forward, y = patches . w^T, with the micro-kernel reading each pixel's patch straight from the input through a
//   table of row pointers (one per pixel and tap; padding taps read zeros) instead of from an im2col copy;
// - weight gradient, gw += gy^T . patches, with the packing of the patch operand gathering from the input.
// Private to the CPU kernels, their tests and benches. Same calling rules as the GEMM kernels (gemm_f32.hpp).
#include <cstdint>

#include "kernels/cpu/isa/gemm_f32.hpp"

namespace fer::cpu::isa {

// A convolution's geometry (ConvGeometry's fields, one group) and its input x [n, h, w, c].
struct ConvInputF32 {
  int64_t n, h, w, c, o, kh, kw, ho, wo;
  int64_t stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
  const float* x;
};

// Forward: y[p0:p1, :] (+)= patches . wt^T.
struct ConvGemmF32 {
  ConvInputF32 in;
  const float* wt;  // [o, kh, kw, c]: row oc is output channel oc's patch weights, in patch order (tap, channel)
  float* y;         // [n, ho, wo, o]
  int64_t p0, p1;   // output pixels [p0, p1) (flat over n, ho, wo), p0 < p1
  bool accumulate;  // y += instead of y =
  int64_t kc = 0;   // k block (0: the kernel's own); at most kMaxKc
};

// Weight gradient: gw[0:m, :] += gy[p0:p1, 0:m]^T . patches of pixels [p0, p1) (m output channels from the
// caller's origin: gy and gw may point at a channel offset).
struct ConvWgradF32 {
  ConvInputF32 in;
  const float* gy;  // gy[p * ld_gy + i] for output channel i of pixel p
  int64_t ld_gy;
  float* gw;  // gw[i * kh * kw * c + q]
  int64_t m;
  int64_t p0, p1;
  int64_t kc = 0;  // k block over the pixels (0: the kernel's own); at most kMaxKc
};

// The pointer table (MC pixels x taps, 8 bytes each) and a row of kMaxKc zeros live in the A packing buffer.
inline constexpr int64_t kConvTableRows = 144;  // >= the MC of every blocking (gemm_f32.hpp)
inline constexpr int64_t kMaxImplicitTaps = (kPackAFloats - kMaxKc) / (kConvTableRows * 2);

using ConvGemmF32Kernel = void (*)(const ConvGemmF32&, float* a_pack, float* b_pack);
using ConvWgradF32Kernel = void (*)(const ConvWgradF32&, float* a_pack, float* b_pack);

void conv_gemm_f32_avx2(const ConvGemmF32&, float* a_pack, float* b_pack);
void conv_gemm_f32_avx512(const ConvGemmF32&, float* a_pack, float* b_pack);
void conv_wgrad_f32_avx2(const ConvWgradF32&, float* a_pack, float* b_pack);
void conv_wgrad_f32_avx512(const ConvWgradF32&, float* a_pack, float* b_pack);

// Run `kernel` with this thread's packing buffers (defined in kernels/cpu/gemm.cpp).
void run_conv_gemm_f32(ConvGemmF32Kernel kernel, const ConvGemmF32& g);
void run_conv_wgrad_f32(ConvWgradF32Kernel kernel, const ConvWgradF32& g);

}  // namespace fer::cpu::isa
