// CUDA runtime glue: device discovery, the caching allocators, streams and library handles, copies. Plain C++
// against the runtime API.
#include "fer/backend/cuda/runtime.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

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

// Caches freed blocks by size class (same classes as the CPU pool); the system free happens only in empty_cache().
// Device blocks are reused in stream order: every kernel runs on the device's one stream, so a block freed on the
// host can be handed out again at once (the next use is queued behind the last use).
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
      cudaError_t e = system_alloc(&p, cls);
      if (e == cudaErrorMemoryAllocation) {  // release the cache and retry once
        cudaGetLastError();
        release_locked();
        e = system_alloc(&p, cls);
      }
      check(e, device_ < 0 ? "cudaHostAlloc" : "cudaMalloc");
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
  cudaError_t system_alloc(void** p, size_t bytes) {
    if (device_ < 0) return cudaHostAlloc(p, bytes, cudaHostAllocDefault);
    check(cudaSetDevice(device_), "cudaSetDevice");
    return cudaMalloc(p, bytes);
  }
  void release_locked() {
    if (device_ >= 0) {
      cudaSetDevice(device_);
      cudaDeviceSynchronize();  // blocks may still be read by queued kernels
    }
    for (auto& [cls, p] : free_) {
      if (device_ < 0) cudaFreeHost(p);
      else cudaFree(p);
      ++stats_.system_frees;
    }
    free_.clear();
    stats_.bytes_cached = 0;
  }
  int device_;  // -1: pinned host memory
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;
  AllocatorStats stats_;
};

// Per-device stream and library handles, created on first use.
struct DeviceContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
};

DeviceContext& context(int device) {
  FER_CHECK(device >= 0 && device < device_count(), "CUDA device ", device, " requested but ", device_count(),
            " CUDA device(s) are available");
  static std::mutex mu;
  static std::vector<DeviceContext> contexts;  // leaked on purpose: outlive static tensors
  std::lock_guard<std::mutex> lock(mu);
  if (contexts.empty()) contexts.resize(size_t(device_count()));
  DeviceContext& c = contexts[size_t(device)];
  if (!c.stream) {
    check(cudaSetDevice(device), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  return c;
}

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

Allocator& pinned_host_allocator() {
  FER_CHECK(available(), "pinned host memory needs a CUDA device");
  static CachingAllocator* a = new CachingAllocator(-1);
  return *a;
}

void* stream(int device) { return context(device).stream; }

void* cublas_handle(int device) {
  DeviceContext& c = context(device);
  if (!c.cublas) {
    check(cudaSetDevice(device), "cudaSetDevice");
    FER_CHECK(cublasCreate(&c.cublas) == CUBLAS_STATUS_SUCCESS, "cublasCreate failed on cuda:", device);
    FER_CHECK(cublasSetStream(c.cublas, c.stream) == CUBLAS_STATUS_SUCCESS, "cublasSetStream failed");
  }
  return c.cublas;
}

void* cudnn_handle(int device) {
  DeviceContext& c = context(device);
  if (!c.cudnn) {
    check(cudaSetDevice(device), "cudaSetDevice");
    cudnnStatus_t s = cudnnCreate(&c.cudnn);
    FER_CHECK(s == CUDNN_STATUS_SUCCESS, "cudnnCreate failed on cuda:", device, ": ", cudnnGetErrorString(s));
    FER_CHECK(cudnnSetStream(c.cudnn, c.stream) == CUDNN_STATUS_SUCCESS, "cudnnSetStream failed");
  }
  return c.cudnn;
}

void check_launch(const char* kernel) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail("CUDA kernel ", kernel, " failed to launch: ", cudaGetErrorString(e));
}

void copy(void* dst, const void* src, size_t bytes, CopyKind kind, int device) {
  if (bytes == 0) return;
  check(cudaSetDevice(device), "cudaSetDevice");
  auto s = static_cast<cudaStream_t>(stream(device));
  cudaMemcpyKind k = kind == CopyKind::host_to_device                                        ? cudaMemcpyHostToDevice
                     : kind == CopyKind::device_to_host || kind == CopyKind::device_to_host_async ? cudaMemcpyDeviceToHost
                                                                                           : cudaMemcpyDeviceToDevice;
  check(cudaMemcpyAsync(dst, src, bytes, k, s), "cudaMemcpyAsync");
  if (kind == CopyKind::device_to_host) check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  // A pageable host source is staged by the driver before cudaMemcpyAsync returns, so the caller may reuse it.
}

void memset_zero(void* dst, size_t bytes, int device) {
  if (bytes == 0) return;
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaMemsetAsync(dst, 0, bytes, static_cast<cudaStream_t>(stream(device))), "cudaMemsetAsync");
}

void synchronize(int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream(device))), "cudaStreamSynchronize");
}

}  // namespace fer::cuda
