#pragma once
// CUDA kernels converting between floating dtypes (kernels/gpu/cast.cpp): the same contract as fer/backend/cpu/cast.hpp.
#include "fer/core/tensor.hpp"

namespace fer::gpu {

void cast_forward(const Tensor& x, const Tensor& y);
void cast_backward(const Tensor& gy, const Tensor& gx);

}  // namespace fer::gpu
