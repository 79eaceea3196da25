// CUDA runtime glue: device discovery, the caching allocator, copies. Plain C++ against the runtime API.
#include "fer/backend/cuda/runtime.hpp"

#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace fer::cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(e));
}

// Caches freed device blocks by size class (same classes as the CPU pool); cudaFree only in empty_cache().
class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  void* allocate(size_t bytes, size_t* granted) override {
    size_t cls = pool_size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocs;
    void* p = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end()) {
      p = it->second;
      free_.erase(it);
      stats_.bytes_cached -= cls;
    } else {
      check(cudaSetDevice(device_), "cudaSetDevice");
      cudaError_t e = cudaMalloc(&p, cls);
      if (e == cudaErrorMemoryAllocation) {  // release the cache and retry once
        release_locked();
        e = cudaMalloc(&p, cls);
      }
      check(e, "cudaMalloc");
      ++stats_.system_allocs;
    }
    stats_.bytes_in_use += cls;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    *granted = cls;
    return p;
  }
  void deallocate(void* p, size_t granted) override {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_in_use -= granted;
    stats_.bytes_cached += granted;
    free_.emplace(granted, p);
  }
  AllocatorStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    release_locked();
  }

 private:
  void release_locked() {
    cudaSetDevice(device_);
    for (auto& [cls, p] : free_) {
      cudaFree(p);
      ++stats_.system_frees;
    }
    free_.clear();
    stats_.bytes_cached = 0;
  }
  int device_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;
  AllocatorStats stats_;
};

}  // namespace

int device_count() {
  static int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver / no device" error
      return 0;
    }
    return n;
  }();
  return count;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return prop.name;
}

Allocator& caching_allocator(int device) {
  FER_CHECK(device >= 0 && device < device_count(), "CUDA device ", device, " requested but ", device_count(),
            " CUDA device(s) are available");
  static std::mutex mu;
  static std::vector<CachingAllocator*> allocators;  // leaked on purpose: outlive static tensors
  std::lock_guard<std::mutex> lock(mu);
  if (allocators.empty())
    for (int i = 0; i < device_count(); ++i) allocators.push_back(new CachingAllocator(i));
  return *allocators[size_t(device)];
}

void copy(void* dst, const void* src, size_t bytes, CopyKind kind, int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  cudaMemcpyKind k = kind == CopyKind::host_to_device   ? cudaMemcpyHostToDevice
                     : kind == CopyKind::device_to_host ? cudaMemcpyDeviceToHost
                                                        : cudaMemcpyDeviceToDevice;
  check(cudaMemcpy(dst, src, bytes, k), "cudaMemcpy");
}

void memset_zero(void* dst, size_t bytes, int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaMemset(dst, 0, bytes), "cudaMemset");
}

void synchronize(int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace fer::cuda
