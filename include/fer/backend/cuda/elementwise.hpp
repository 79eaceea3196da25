#pragma once
// CUDA kernels for pointwise ops (kernels/gpu/elementwise.cpp -> kernels/cuda/elementwise.cu): the same functions
// and semantics as fer/backend/cpu/elementwise.hpp, on tensors of one CUDA device. Inputs contiguous; gradients
// accumulate. Dtypes: f32, f64, f16 and bf16 (16-bit storage, f32 compute). Reductions over broadcast dims are
// deterministic (fixed partition and order, no atomics).
#include "fer/backend/cpu/elementwise.hpp"
#include "fer/core/tensor.hpp"

namespace fer::gpu {

using cpu::Binary;
using cpu::Unary;

void unary_forward(Unary op, const Tensor& x, const Tensor& y, double alpha);
void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx, double alpha);
void affine_scalar_forward(const Tensor& x, const Tensor& y, double a, double b);
void axpy(const Tensor& gy, const Tensor& gx, double a);
void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& y);
void binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& gy, const Tensor& ga, const Tensor& gb);
void sum_to(const Tensor& x, const Tensor& y);
void broadcast_add(const Tensor& gy, const Tensor& gx, double scale);

}  // namespace fer::gpu
