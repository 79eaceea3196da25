#pragma once
// CPU kernels for normalization over the channel (last) dim (kernels/cpu/norm.cpp). Tensors are contiguous and
// viewed as [M, C]; gradients accumulate (+=) into their buffers; undefined tensors are skipped.
#include "fer/core/tensor.hpp"

namespace fer::cpu {

// Batch statistics over the M rows: mean [C] and 1/sqrt(biased var + eps) [C]; also the biased variance.
void batch_norm_stats(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& var, double eps);
// y = (x - mean) * invstd * weight + bias (weight/bias may be undefined = 1/0).
void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const Tensor& y);
// Backward of batch_norm_apply. `batch_stats`: mean/invstd are this batch's statistics (training), so the
// gradient flows through them too; otherwise they are constants (eval).
void batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                         const Tensor& gy, bool batch_stats, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias);
// invstd = 1 / sqrt(running_var + eps)
void inverse_std(const Tensor& var, const Tensor& invstd, double eps);
// running = (1 - momentum) * running + momentum * value * scale
void running_update(const Tensor& running, const Tensor& value, double momentum, double scale);

// LayerNorm over the last dim: per-row mean and invstd are saved for the backward pass.
void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd);
void layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, const Tensor& gx, const Tensor& gweight, const Tensor& gbias);

}  // namespace fer::cpu
