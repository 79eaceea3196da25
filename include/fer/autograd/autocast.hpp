#pragma once
// Automatic mixed precision, PyTorch's autocast in spirit: inside an AutocastGuard(bf16 or f16) on a CUDA device,
// convolutions and matrix products cast their inputs to the 16-bit type (tensor-core paths), while normalization,
// softmax and losses cast theirs up to f32. Parameters stay f32 (the master weights): the recorded casts carry
// the gradients back to them in f32. The CPU backend has no 16-bit compute, so autocast leaves CPU ops alone.
#include "fer/core/dtype.hpp"

namespace fer {

inline DType& autocast_dtype_flag() {
  thread_local DType dtype = DType::f32;  // f32: off
  return dtype;
}
inline DType autocast_dtype() { return autocast_dtype_flag(); }
inline bool autocast_enabled() { return autocast_dtype_flag() != DType::f32; }

class AutocastGuard {
 public:
  // dtype: bf16 or f16 turns autocast on; f32 turns it off inside the scope.
  explicit AutocastGuard(DType dtype) : prev_(autocast_dtype_flag()) {
    FER_CHECK(dtype == DType::f32 || dtype == DType::bf16 || dtype == DType::f16,
              "autocast: dtype must be bf16, f16 or f32 (off), got ", dtype_name(dtype));
    autocast_dtype_flag() = dtype;
  }
  ~AutocastGuard() { autocast_dtype_flag() = prev_; }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DType prev_;
};

}  // namespace fer
