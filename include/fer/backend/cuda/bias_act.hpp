#pragma once
// CUDA kernels for the fused bias + activation + gain + clamp (kernels/gpu/bias_act.cpp -> kernels/cuda/bias_act.cu):
// the functions and semantics of fer/backend/cpu/bias_act.hpp on tensors of one CUDA device (f32, f64, f16, bf16;
// 16-bit storage computes in f32). Gradients accumulate.
#include "fer/backend/cpu/bias_act.hpp"
#include "fer/core/tensor.hpp"

namespace fer::gpu {

// Rows of the `partials` scratch the op allocates for a CUDA bias gradient (each holds one chunk's column sums), and
// its dtype: f64 for f64, f32 otherwise (the 16-bit types sum in f32).
inline constexpr int64_t kBiasActPartialRows = 1024;
inline DType bias_act_partials_dtype(DType x) { return x == DType::f64 ? DType::f64 : DType::f32; }

void bias_act_forward(const Tensor& x, const Tensor& b, const Tensor& y, Activation act, double alpha, double gain,
                      double clamp);
// As the CPU's; `partials` is [P, C] of bias_act_partials_dtype(x) on x's device (P >= 1; rows are cut into at most
// P fixed chunks, so the bias gradient is deterministic).
void bias_act_backward(const Tensor& x, const Tensor& b, const Tensor& gy, const Tensor& gx, const Tensor& gb,
                       const Tensor& partials, Activation act, double alpha, double gain, double clamp);

}  // namespace fer::gpu
