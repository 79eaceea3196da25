#pragma once
// CUDA kernels of dropout / stochastic depth (kernels/gpu/dropout.cpp -> kernels/cuda/dropout.cu). The CPU side draws
// its masks inside fer/ops/dropout.hpp; on a CUDA device the op draws ONE 64-bit key from the generator per forward
// and the mask is a counter-based hash of (key, group index), so the checkpointed generator state still determines
// every mask and each replay of a captured step draws a fresh one.
#include <cstdint>

#include "fer/core/tensor.hpp"

namespace fer::gpu {

// The dtype of a mask for data of dtype `x`: the compute type (f64 for f64, f32 otherwise).
inline DType dropout_mask_dtype(DType x) { return x == DType::f64 ? DType::f64 : DType::f32; }

// mask[g] = 0 with probability p, else `scale`, for every element g of mask (contiguous, dropout_mask_dtype).
void dropout_mask(const Tensor& mask, uint64_t key, double p, double scale);
// y[i] = x[i] * mask[i / group]   (x, y contiguous with mask.numel() * group elements)
void masked_scale_forward(const Tensor& x, const Tensor& mask, const Tensor& y, int64_t group);
// gx[i] += gy[i] * mask[i / group]
void masked_scale_backward(const Tensor& gy, const Tensor& mask, const Tensor& gx, int64_t group);

}  // namespace fer::gpu
