#pragma once
// The check every Tensor-level CUDA entry point makes before it unpacks raw pointers for a launcher.
#include <initializer_list>

#include "fer/core/error.hpp"
#include "fer/core/tensor.hpp"

namespace fer::gpu {

// Each defined tensor of `ts` (null and undefined entries are skipped: optional bias, gradients not wanted) must be a
// contiguous CUDA tensor, all on one device and, with `same_dtype`, all of one dtype; at least one must be defined.
// Returns that device's index.
inline int cuda_device_of(const char* op, std::initializer_list<const Tensor*> ts, bool same_dtype = false) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    FER_CHECK(t->device().is_cuda(), op, ": CUDA kernel given a tensor on ", t->device().str());
    FER_CHECK(t->is_contiguous(), op, ": CUDA kernel needs contiguous tensors, got ", t->str());
    if (!first) {
      first = t;
      continue;
    }
    FER_CHECK(t->device() == first->device(), op, ": tensors on ", first->device().str(), " and ", t->device().str());
    FER_CHECK(!same_dtype || t->dtype() == first->dtype(), op, ": dtype mismatch (", dtype_name(first->dtype()),
              " vs ", dtype_name(t->dtype()), ")");
  }
  FER_CHECK(first, op, ": no tensor");
  return first->device().index;
}

}  // namespace fer::gpu
