#pragma once
// The depthwise convolution kernels of each instruction set (kernels/cpu/isa/conv_depthwise_<isa>.cpp, each compiled
// with its own -march around kernels/cpu/isa/conv_depthwise.inl) and their contract. Private to the CPU kernels
// (kernels/cpu/conv_depthwise.cpp threads and dispatches them) and their tests.
//
// One input channel per output channel (groups == c == o), NHWC activations, the weight transposed to [kh, kw, c]
// so that every channel loop is unit-stride. Each kernel is single-threaded and runs a range of rows, so the caller
// splits the work; taking a kernel's address is safe on any CPU, calling the AVX-512 ones only where
// cpu_isa_supported(CpuIsa::avx512).
#include <cstdint>

namespace fer::cpu::isa {

// A plain copy of the convolution's sizes (these files include nothing that could be compiled for another ISA).
struct DepthwiseShape {
  int64_t n, h, w, c, kh, kw, ho, wo;
  int64_t stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
};

// Kernels larger than this on either axis take the generic per-channel path (kernels/cpu/conv_depthwise.cpp).
inline constexpr int64_t kDepthwiseMaxK = 16;

struct DepthwiseF32Kernels {
  // y (+)= conv(x, wt) + bias (bias may be null) for output rows [r0, r1) of n * ho; written when !accumulate.
  void (*forward)(const DepthwiseShape&, const float* x, const float* wt, const float* bias, float* y, bool accumulate,
                  int64_t r0, int64_t r1);
  // gx (+)= d conv / d x applied to gy, for input rows [r0, r1) of n * h; written when !accumulate.
  void (*backward_input)(const DepthwiseShape&, const float* gy, const float* wt, float* gx, bool accumulate,
                         int64_t r0, int64_t r1);
  // part = d conv / d w ([kh, kw, c], written, never read) summed over output rows [r0, r1) of n * ho.
  void (*backward_weight)(const DepthwiseShape&, const float* gy, const float* x, float* part, int64_t r0, int64_t r1);
};

extern const DepthwiseF32Kernels kDepthwiseF32Avx2;
extern const DepthwiseF32Kernels kDepthwiseF32Avx512;

}  // namespace fer::cpu::isa
