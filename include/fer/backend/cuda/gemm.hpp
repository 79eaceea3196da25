#pragma once
// CUDA matrix products (kernels/gpu/gemm.cpp over cuBLAS): the same functions and semantics as fer/backend/cpu/gemm.hpp
// for device tensors (f32, f64, and f16/bf16 with f32 accumulation). Gradients accumulate (+=).
#include "fer/core/tensor.hpp"

namespace fer::gpu {

// TF32 tensor-core math for f32 products and convolutions: off by default (exact f32, as PyTorch's matmul
// default); process-wide.
void set_allow_tf32(bool on);
bool allow_tf32();

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y);
void linear_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                     const Tensor& gb);
void matmul_into(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, bool accumulate);

// gb += column sums of the contiguous matrix a viewed as [rows, cols] (shared with conv2d's bias gradient).
void add_column_sums(const Tensor& a, int64_t rows, int64_t cols, const Tensor& gb);

}  // namespace fer::gpu
