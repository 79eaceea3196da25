#pragma once
// CUDA upfirdn2d (kernels/gpu/upfirdn2d.cpp -> kernels/cuda/upfirdn2d.cu): the same functions as fer::cpu's, on
// device tensors (f32, f64, and f16/bf16 with f32 arithmetic). Inputs contiguous; the backward accumulates.
#include "fer/backend/cpu/upfirdn2d.hpp"

namespace fer::gpu {

void upfirdn2d_forward(const Tensor& x, const Tensor& f, const Tensor& y, const UpFirDnParams& p);
void upfirdn2d_backward(const Tensor& f, const Tensor& gy, const Tensor& gx, const UpFirDnParams& p);

}  // namespace fer::gpu
