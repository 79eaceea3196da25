#pragma once
// CPU kernels converting between floating dtypes (kernels/cpu/cast.cpp): round to nearest even on narrowing.
#include "fer/core/tensor.hpp"

namespace fer::cpu {

// y = x converted to y's dtype (same number of elements, both contiguous).
void cast_forward(const Tensor& x, const Tensor& y);
// gx += gy converted to gx's dtype.
void cast_backward(const Tensor& gy, const Tensor& gx);

}  // namespace fer::cpu
