#pragma once
// The implicit-GEMM path of a KxK convolution's forward pass and weight gradient on the CPU
// (kernels/cpu/conv_implicit.cpp): the products of kernels/cpu/conv.cpp's im2col path with the patch rows read
// from the NHWC input in place (kernels/cpu/isa/conv_gemm_blocked.inl), so the patch matrix is never written.
// f32 on the AVX2 / AVX-512 kernels.
#include <cstdint>

#include "fer/kernels/conv.hpp"

namespace fer::kernels {

// When the implicit GEMM runs: `automatic` where bench_conv measured it faster (bench/README.md), or always / never
// (where it can run at all: f32, one group, not pointwise, at most isa::kMaxImplicitTaps taps, the ISA chosen at
// that moment has the kernel: AVX2 or AVX-512). Process-wide; FER_CONV_IMPLICIT=auto|1|0 sets it at start-up,
// set_conv_implicit_mode afterwards (tests, bench_conv). Read at each call, so a recorded graph follows it.
enum class ConvImplicitMode { automatic, always, never };
void set_conv_implicit_mode(ConvImplicitMode mode);
ConvImplicitMode conv_implicit_mode();

// Whether the f32 forward pass / weight gradient of this convolution runs the implicit GEMM now.
bool conv_implicit_forward_chosen(const ConvGeometry& g);
bool conv_implicit_wgrad_chosen(const ConvGeometry& g);

// y[p0:p1, :] (+)= the patches of output pixels [p0, p1) times w^T, on the calling thread; p0 < p1.
void conv_implicit_gemm_forward(const ConvGeometry& g, const float* x, const float* w, float* y, int64_t p0,
                                int64_t p1, bool accumulate);

// gw[0:m, :] += gy[p0:p1, 0:m]^T . the patches of output pixels [p0, p1), on the calling thread: gy[p * ld_gy + i]
// is output channel i of pixel p, gw row i has kh * kw * c elements (both from the caller's channel origin).
void conv_implicit_gemm_weight_grad(const ConvGeometry& g, const float* gy, int64_t ld_gy, const float* x, float* gw,
                                    int64_t m, int64_t p0, int64_t p1);

}  // namespace fer::kernels
