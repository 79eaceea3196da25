#pragma once
// Kernel contract: StyleGAN2's modulated convolution -- weight modulation and demodulation, and the convolution of
// every sample with its own weight. Defined by kernels/cpu/modconv.cpp and kernels/cuda/modconv.cu (f32 and f64
// there); a build without CUDA links kernels/no_cuda/modconv.cpp. Tensors contiguous, of one dtype, on one device;
// gradients accumulate (+=).
#include <cstddef>

#include "fer/kernels/conv.hpp"
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// Where the modulated weight W'[n, o, k, i] (k = ky * kw + kx) is written.
enum class ModulatedLayout {
  per_sample,  // [N, O, kh, kw, I]: one OHWI weight per sample (the grouped convolution's [N*O, kh, kw, I])
  transposed,  // [N, I, kh, kw, O]: one weight per sample for the transposed convolution (input channel first)
};

// w [O, kh, kw, I], s [N, I], y (or gy) [N*O*kh*kw*I elements] in `layout`, dcoef [N, O] or undefined (no
// demodulation). `flip` stores the kernel rotated by 180 degrees (k -> kh*kw-1-k).
struct ModulateForwardArgs {
  TensorRef w, s, y, dcoef;
  ModulatedLayout layout;
  bool flip;
  double eps;
};
// gw, gs may be undefined (not wanted); `dot` is scratch [N, O], needed with dcoef.
struct ModulateBackwardArgs {
  TensorRef w, s, dcoef, gy, gw, gs, dot;
  ModulatedLayout layout;
  bool flip;
};

// W'[n, o, k, i] = w[o, k, i] * s[n, i], times dcoef[n, o] = 1 / sqrt(sum_{k,i} W'^2 + eps) when dcoef is defined
// (demodulation; written here).
void modulate_weights_forward_cpu(const ModulateForwardArgs&);
void modulate_weights_forward_cuda(const ModulateForwardArgs&);
inline void modulate_weights_forward(const ModulateForwardArgs& a) {
  run_on(a.w, modulate_weights_forward_cpu, modulate_weights_forward_cuda, a);
}

// gw += d/dw, gs += d/ds of <y, gy>.
void modulate_weights_backward_cpu(const ModulateBackwardArgs&);
void modulate_weights_backward_cuda(const ModulateBackwardArgs&);
inline void modulate_weights_backward(const ModulateBackwardArgs& a) {
  run_on(a.w, modulate_weights_backward_cpu, modulate_weights_backward_cuda, a);
}

// The grouped convolution with one group per sample -- NVIDIA's fused modulated convolution -- as one convolution
// per sample with that sample's weight:
//   plain:      y[n] = conv2d(x[n], w[n]) with stride and zero padding; w [N*Cout, kh, kw, Cin];
//   transposed: y[n] = PyTorch's conv_transpose2d(x[n], w[n], stride, padding) with w [N*Cin, kh, kw, Cout]
//               (input channel first): x[n] pixel p adds w[ci, ky, kx, :] * x at output p*stride + (ky, kx) -
//               padding. It is the input gradient of the plain convolution out -> x and runs on those kernels.
// x [N, H, W, Cin] -> y [N, OH, OW, Cout]. The CPU runs the samples in parallel on the conv kernels; CUDA runs one
// grouped convolution (batch folded into the groups): cuDNN for f32 with FMA math (no TF32), direct kernels for f64.
struct SampleConv {
  ConvPlan plan;  // one sample's convolution (n = 1); for `transposed`, the convolution y[n] -> x[n]
  bool transposed = false;
  int64_t samples = 1, cin = 0, cout = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t workspace = 0;  // elements of scratch the CPU passes need
};
// Out-of-range sizes (an empty output) are the caller's to check: out_h and out_w are < 1 then.
// (kernels/cpu/modconv.cpp)
SampleConv plan_sample_conv(int64_t n, int64_t h, int64_t w, int64_t cin, int64_t cout, int64_t kh, int64_t kw,
                            bool transposed, int64_t stride, int64_t pad_y, int64_t pad_x);

// The device scratch the CUDA passes of `sc` need (the largest of the three), in bytes; chooses and caches the cuDNN
// algorithms of the geometry. CUDA only.
size_t sample_conv_workspace_bytes_cuda(const SampleConv& sc, DType dtype, int device);

// ws: scratch -- on the CPU sc.workspace elements of x's dtype (undefined when that is 0); on CUDA
// sample_conv_workspace_bytes_cuda bytes of any dtype (undefined or too small: taken from the caching allocator).
struct SampleConvForwardArgs {
  SampleConv sc;
  TensorRef x, w, y, ws;
};
// gx, gw may be undefined (not wanted). gx_scratch ([N, H, W, Cin]) is needed for gx in the transposed case on the
// CPU (CUDA accumulates in place).
struct SampleConvBackwardArgs {
  SampleConv sc;
  TensorRef x, w, gy, gx, gw, ws, gx_scratch;
};

// y = the per-sample convolution of x.
void sample_conv_forward_cpu(const SampleConvForwardArgs&);
void sample_conv_forward_cuda(const SampleConvForwardArgs&);
inline void sample_conv_forward(const SampleConvForwardArgs& a) {
  run_on(a.x, sample_conv_forward_cpu, sample_conv_forward_cuda, a);
}

// gx += dL/dx, gw += dL/dw for dL/dy = gy.
void sample_conv_backward_cpu(const SampleConvBackwardArgs&);
void sample_conv_backward_cuda(const SampleConvBackwardArgs&);
inline void sample_conv_backward(const SampleConvBackwardArgs& a) {
  run_on(a.x, sample_conv_backward_cpu, sample_conv_backward_cuda, a);
}

}  // namespace fer::kernels
