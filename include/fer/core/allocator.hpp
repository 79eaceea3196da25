#pragma once
// Per-device allocators. The CPU allocator is a caching pool: freed blocks are kept by size class and
// handed out again, so a training step in steady state makes no system allocation (see stats()).
#include <cstddef>
#include <cstdlib>
#include <map>
#include <mutex>

#include "fer/core/device.hpp"
#include "fer/core/error.hpp"

namespace fer {

struct AllocatorStats {
  size_t system_allocs = 0;  // blocks obtained from the system (malloc / cudaMalloc)
  size_t system_frees = 0;
  size_t allocs = 0;         // requests served (from the cache or the system)
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;   // free blocks held for reuse
  size_t peak_bytes_in_use = 0;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns a block of at least `bytes`; `*granted` receives the block's real size (pass it back to deallocate).
  virtual void* allocate(size_t bytes, size_t* granted) = 0;
  virtual void deallocate(void* p, size_t granted) = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void empty_cache() = 0;
};

// Size classes: multiples of 64 B up to 4 KiB, then four steps per power of two. A request is rounded up
// to its class, so a block freed by one tensor fits the next tensor of a similar size.
inline size_t pool_size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + 63) & ~size_t(63);
  size_t p = 4096;
  while (p < bytes) p <<= 1;  // p >= bytes, p/2 < bytes
  size_t step = p / 8;        // classes p/2 + k*p/8, k = 1..4
  return ((bytes + step - 1) / step) * step;
}

class CpuPoolAllocator final : public Allocator {
 public:
  ~CpuPoolAllocator() override { empty_cache(); }

  void* allocate(size_t bytes, size_t* granted) override {
    size_t cls = pool_size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocs;
    auto it = free_.find(cls);
    void* p;
    if (it != free_.end()) {
      p = it->second;
      free_.erase(it);
      stats_.bytes_cached -= cls;
    } else {
      p = std::aligned_alloc(64, cls);
      if (!p) fail("out of CPU memory allocating ", cls, " bytes");
      ++stats_.system_allocs;
    }
    stats_.bytes_in_use += cls;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
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
    for (auto& [cls, p] : free_) {
      std::free(p);
      ++stats_.system_frees;
    }
    free_.clear();
    stats_.bytes_cached = 0;
  }

 private:
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;
  AllocatorStats stats_;
};

inline Allocator& cpu_allocator() {
  static CpuPoolAllocator* a = new CpuPoolAllocator();  // leaked on purpose: outlives static tensors
  return *a;
}

}  // namespace fer
