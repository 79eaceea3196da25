#pragma once
// The check every CUDA definition of a kernel contract makes before it launches: its tensors live on one CUDA device.
#include <initializer_list>

#include "fer/core/error.hpp"
#include "fer/kernels/tensor_ref.hpp"

namespace fer::cuda {

// Each defined tensor of `ts` (null and undefined entries are skipped: optional bias, gradients not wanted) must be a
// contiguous CUDA tensor, all on one device and, with `same_dtype`, all of one dtype; at least one must be defined.
// Returns that device's index.
inline int cuda_device_of(const char* op, std::initializer_list<const kernels::TensorRef*> ts, bool same_dtype = false) {
  const kernels::TensorRef* first = nullptr;
  for (const kernels::TensorRef* t : ts) {
    if (!t || !t->defined()) continue;
    FER_CHECK(t->on_cuda(), op, ": CUDA kernel given a tensor in host memory");
    FER_CHECK(t->is_contiguous(), op, ": CUDA kernel needs contiguous tensors, got strides ", t->strides().str(),
              " for shape ", t->shape().str());
    if (!first) {
      first = t;
      continue;
    }
    FER_CHECK(t->device == first->device, op, ": tensors on cuda:", first->device, " and cuda:", t->device);
    FER_CHECK(!same_dtype || t->dtype() == first->dtype(), op, ": dtype mismatch (", dtype_name(first->dtype()),
              " vs ", dtype_name(t->dtype()), ")");
  }
  FER_CHECK(first, op, ": no tensor");
  return first->device;
}

}  // namespace fer::cuda
