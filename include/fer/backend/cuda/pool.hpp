#pragma once
// CUDA backend of 2-d NHWC pooling (kernels/gpu/pool.cpp -> kernels/cuda/pool.cu): fer::cpu's functions and semantics
// (fer/backend/cpu/pool.hpp) for tensors on a CUDA device, f32/f64/f16/bf16. Backward passes gather per input
// element (no atomics): deterministic, and for f32/f64 summed in the CPU's order.
#include "fer/backend/cpu/pool.hpp"
#include "fer/core/tensor.hpp"

namespace fer::gpu {

using cpu::PoolGeometry;

void max_pool2d_forward(const PoolGeometry& g, const Tensor& x, const Tensor& y, const Tensor& argmax);
void max_pool2d_backward(const PoolGeometry& g, const Tensor& gy, const Tensor& argmax, const Tensor& gx);
void avg_pool2d_forward(const PoolGeometry& g, const Tensor& x, const Tensor& y);
void avg_pool2d_backward(const PoolGeometry& g, const Tensor& gy, const Tensor& gx);
void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y);
void adaptive_avg_pool2d_backward(const Tensor& gy, const Tensor& gx);

}  // namespace fer::gpu
