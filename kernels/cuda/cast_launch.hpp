#pragma once
// Launchers of kernels/cuda/cast.cu: floating dtype conversion on a device (raw pointers; no framework types).
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// dst[i] (+)= convert(src[i]) for i < n; src and dst of floating dtypes, on `device`.
void launch_cast(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n, bool accumulate, int device);

}  // namespace fer::cuda
