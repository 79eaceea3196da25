#pragma once
// CUDA layout kernels (kernels/gpu/shape.cpp -> kernels/cuda/shape.cu): the functions and semantics of
// fer/backend/cpu/shape.hpp on tensors of one CUDA device. Copies work for every dtype; accumulation and padding
// for f32, f64, f16 and bf16. Scatter targets must be distinct (as the ops' permutations and slices are).
#include "fer/core/tensor.hpp"

namespace fer::gpu {

void gather_strided(const Tensor& src, int64_t src_offset, const Shape& src_strides, const Tensor& dst, bool accumulate);
void scatter_strided(const Tensor& src, const Tensor& dst, int64_t dst_offset, const Shape& dst_strides, bool accumulate);
void pad2d_forward(const Tensor& x, const Tensor& y, int64_t top, int64_t left, double value);
void pad2d_backward(const Tensor& gy, const Tensor& gx, int64_t top, int64_t left);

}  // namespace fer::gpu
