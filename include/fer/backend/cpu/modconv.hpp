#pragma once
// CPU kernels for StyleGAN2's modulated convolution (kernels/cpu/modconv.cpp): the convolution of every sample with
// its own weight (the weight modulation is the kernel contract fer/kernels/modconv.hpp). Inputs contiguous;
// gradients accumulate.
#include "fer/kernels/conv.hpp"
#include "fer/core/tensor.hpp"

namespace fer::cpu {

// The grouped convolution with one group per sample -- NVIDIA's fused modulated convolution -- run as one
// convolution per sample with that sample's weight (samples in parallel; no folding of the batch into channels).
//   plain:      y[n] = conv2d(x[n], w[n]) with stride and zero padding; w [N*Cout, kh, kw, Cin];
//   transposed: y[n] = PyTorch's conv_transpose2d(x[n], w[n], stride, padding) with w [N*Cin, kh, kw, Cout]
//               (input channel first): x[n] pixel p adds w[ci, ky, kx, :] * x at output p*stride + (ky, kx) -
//               padding. It is the input gradient of the plain convolution out -> x and runs on those kernels.
// x [N, H, W, Cin] -> y [N, OH, OW, Cout].
struct SampleConv {
  kernels::ConvPlan plan;  // one sample's convolution (n = 1); for `transposed`, the convolution y[n] -> x[n]
  bool transposed = false;
  int64_t samples = 1, cin = 0, cout = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t workspace = 0;  // elements of scratch the passes need
};
// Out-of-range sizes (an empty output) are the caller's to check: out_h and out_w are < 1 then.
SampleConv plan_sample_conv(int64_t n, int64_t h, int64_t w, int64_t cin, int64_t cout, int64_t kh, int64_t kw,
                            bool transposed, int64_t stride, int64_t pad_y, int64_t pad_x);
void sample_conv_forward(const SampleConv& sc, const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& ws);
// gx += dL/dx, gw += dL/dw for dL/dy = gy (either may be undefined). `gx_scratch` ([N, H, W, Cin]) is needed for
// gx in the transposed case.
void sample_conv_backward(const SampleConv& sc, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx,
                          const Tensor& gw, const Tensor& ws, const Tensor& gx_scratch);

}  // namespace fer::cpu
