#pragma once
// Kernel contract: the fused bias + activation + gain + clamp of StyleGAN2 (NVIDIA's bias_act, the bias along the
// last dim). Defined by kernels/cpu/bias_act.cpp and kernels/cuda/bias_act.cu (f32, f64, f16, bf16 there; 16-bit
// storage computes in f32); a build without CUDA links kernels/no_cuda/bias_act.cpp.
#include "fer/kernels/tensor_ref.hpp"

namespace fer {

// The activations of NVIDIA's bias_act. Only lrelu uses alpha (elu and selu have their fixed PyTorch alphas);
// softplus is PyTorch's (beta 1, threshold 20); swish is x * sigmoid(x).
enum class Activation { linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus, swish };

const char* activation_name(Activation a);

}  // namespace fer

namespace fer::kernels {

// Rows of the `partials` scratch the op allocates for a CUDA bias gradient (each holds one chunk's column sums), and
// its dtype: f64 for f64, f32 otherwise (the 16-bit types sum in f32). On the CPU: [threads, C] of x's dtype.
inline constexpr int64_t kBiasActPartialRows = 1024;
inline DType bias_act_partials_dtype(DType x) { return x == DType::f64 ? DType::f64 : DType::f32; }

// x, y, gy, gx [..., C] contiguous of one dtype on one device; b, gb [C] or undefined (no bias / not wanted);
// clamp < 0 means none.
struct BiasActForwardArgs {
  TensorRef x, b, y;
  Activation act;
  double alpha, gain, clamp;
};
// partials: scratch [P, C] (P >= 1) for per-chunk bias sums, needed when gb is defined (rows are cut into at most P
// fixed chunks, so the bias gradient is deterministic).
struct BiasActBackwardArgs {
  TensorRef x, b, gy, gx, gb, partials;
  Activation act;
  double alpha, gain, clamp;
};

// y = clamp(act(x + b) * gain, -clamp, clamp).
void bias_act_forward_cpu(const BiasActForwardArgs&);
void bias_act_forward_cuda(const BiasActForwardArgs&);
inline void bias_act_forward(const BiasActForwardArgs& a) {
  run_on(a.x, bias_act_forward_cpu, bias_act_forward_cuda, a);
}

// gx += dy/dx * gy (zero where clamped); gb[c] += sum of dy/dx * gy over all but the last dim.
void bias_act_backward_cpu(const BiasActBackwardArgs&);
void bias_act_backward_cuda(const BiasActBackwardArgs&);
inline void bias_act_backward(const BiasActBackwardArgs& a) {
  run_on(a.x, bias_act_backward_cpu, bias_act_backward_cuda, a);
}

}  // namespace fer::kernels
