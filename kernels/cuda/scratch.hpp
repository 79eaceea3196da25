#pragma once
// Temporary device memory for one kernel call, from the device's caching allocator: freed when it goes out of
// scope, and reused by later calls in stream order (the same life as a temporary Tensor of the old Tensor-level glue).
#include <cstddef>
#include <cstdint>

#include "fer/kernels/runtime.hpp"

namespace fer::cuda {

class DeviceScratch {
 public:
  DeviceScratch() = default;
  // At least one byte, so a zero-sized request still gives a valid pointer.
  DeviceScratch(size_t bytes, int device) : alloc_(&caching_allocator(device)) {
    ptr_ = alloc_->allocate(bytes > 0 ? bytes : 1, &granted_);
  }
  ~DeviceScratch() {
    if (ptr_) alloc_->deallocate(ptr_, granted_);
  }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  DeviceScratch(DeviceScratch&& o) noexcept : ptr_(o.ptr_), granted_(o.granted_), alloc_(o.alloc_) { o.ptr_ = nullptr; }
  DeviceScratch& operator=(DeviceScratch&& o) noexcept {
    if (this != &o) {
      if (ptr_) alloc_->deallocate(ptr_, granted_);
      ptr_ = o.ptr_, granted_ = o.granted_, alloc_ = o.alloc_;
      o.ptr_ = nullptr;
    }
    return *this;
  }

  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  size_t granted_ = 0;
  Allocator* alloc_ = nullptr;
};

}  // namespace fer::cuda
