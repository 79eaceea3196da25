#pragma once
// CUDA backend of batch norm and layer norm (kernels/gpu/norm.cpp -> kernels/cuda/norm.cu): the same functions and
// semantics as fer::cpu's (fer/backend/cpu/norm.hpp) for tensors on a CUDA device, f32/f64/f16/bf16. The workspace
// must live on the input's device (its acc holds double partial sums and, between passes, per-channel coefficients);
// every reduction is deterministic (fixed row chunks summed in order, double accumulators, no atomics).
#include "fer/backend/cpu/norm.hpp"
#include "fer/core/tensor.hpp"

namespace fer::gpu {

using cpu::NormWorkspace;

// The workspace of cpu::make_norm_workspace, on `device`.
NormWorkspace make_norm_workspace(int64_t m, int64_t c, DType dtype, Device device);

void batch_norm_stats(const Tensor& x, const NormWorkspace& ws, const Tensor& mean, const Tensor& invstd,
                      const Tensor& var, double eps);
void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const NormWorkspace& ws, const Tensor& y, bool relu = false);
void batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                         const Tensor& gy, bool batch_stats, const NormWorkspace& ws, const Tensor& gx,
                         const Tensor& gweight, const Tensor& gbias, const Tensor& relu_out = Tensor());
void inverse_std(const Tensor& var, const Tensor& invstd, double eps);
void running_update(const Tensor& running, const Tensor& value, double momentum, double scale);
void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd);
void layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, const NormWorkspace& ws, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias);

// t += 1 for a one-element i64 device tensor (num_batches_tracked), on the device's stream.
void increment_i64(const Tensor& t);

}  // namespace fer::gpu
