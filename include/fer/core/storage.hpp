#pragma once
// A reference-counted byte buffer on one device, from that device's allocator or borrowed (e.g. mmap).
#include <cstring>
#include <functional>
#include <memory>

#include "fer/core/allocator.hpp"
#include "fer/core/device.hpp"
#include "fer/kernels/runtime.hpp"

namespace fer {

inline Allocator& allocator_for(Device d) {
  if (d.is_cpu()) return cpu_allocator();
  FER_CHECK(built_with_cuda(), "device ", d.str(), " requested but this build of fer has no CUDA backend");
  return cuda::caching_allocator(d.index);
}

class Storage {
 public:
  Storage(size_t bytes, Device device) : device_(device), bytes_(bytes), alloc_(&allocator_for(device)) {
    data_ = alloc_->allocate(bytes, &granted_);
  }
  // Host memory from a given allocator (page-locked memory for asynchronous uploads).
  Storage(size_t bytes, Allocator& host_allocator) : device_(Device::cpu()), bytes_(bytes), alloc_(&host_allocator) {
    data_ = alloc_->allocate(bytes, &granted_);
  }
  // Borrowed memory kept alive by `owner` (for example a memory-mapped file).
  Storage(void* data, size_t bytes, Device device, std::shared_ptr<void> owner)
      : data_(data), device_(device), bytes_(bytes), owner_(std::move(owner)) {}
  ~Storage() {
    if (alloc_) alloc_->deallocate(data_, granted_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  Device device_;
  size_t bytes_ = 0;
  size_t granted_ = 0;
  Allocator* alloc_ = nullptr;
  std::shared_ptr<void> owner_;
};

// Byte copies between any two devices.
inline void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t n) {
  if (n == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, n);
    return;
  }
  FER_CHECK(built_with_cuda(), "copy involving a CUDA device in a build without CUDA");
  if (dst_dev.is_cuda() && src_dev.is_cpu()) return cuda::copy(dst, src, n, cuda::CopyKind::host_to_device, dst_dev.index);
  if (dst_dev.is_cpu() && src_dev.is_cuda()) return cuda::copy(dst, src, n, cuda::CopyKind::device_to_host, src_dev.index);
  FER_CHECK(dst_dev == src_dev, "copy between two CUDA devices is not supported");
  return cuda::copy(dst, src, n, cuda::CopyKind::device_to_device, dst_dev.index);
}

inline void zero_bytes(void* dst, Device dev, size_t n) {
  if (n == 0) return;
  if (dev.is_cpu()) {
    std::memset(dst, 0, n);
    return;
  }
  FER_CHECK(built_with_cuda(), "zero fill on a CUDA device in a build without CUDA");
  cuda::memset_zero(dst, n, dev.index);
}

}  // namespace fer

namespace fer {
// True when this build has CUDA and a device is usable right now.
inline bool cuda_device_available() { return cuda::available(); }
}  // namespace fer
