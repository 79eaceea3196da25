#pragma once
// How a CUDA kernel that only adds honours a written gradient (accumulate false: the first writer of a recorded
// step, fer/autograd/written_grads.hpp): it zeroes the gradient on the stream first. Same result; the zeroing moves
// from the Graph into the op.
#include "fer/kernels/runtime.hpp"
#include "fer/kernels/tensor_ref.hpp"

namespace fer::cuda {

// `g` contiguous on `device` (checked by cuda_device_of before).
inline void zero_if_written(const kernels::TensorRef& g, bool accumulate, int device) {
  if (!accumulate && g.defined()) memset_zero(g.raw_data(), size_t(g.numel()) * dtype_size(g.dtype()), device);
}

}  // namespace fer::cuda
