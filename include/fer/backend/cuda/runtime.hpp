#pragma once
// Thin interface to the CUDA runtime, implemented in kernels/cuda/runtime.cpp. Only this header is seen by
// code that is not compiled by nvcc; without FER_WITH_CUDA, `available()` is false and the rest throws.
#include <cstddef>
#include <string>

#include "fer/core/allocator.hpp"

namespace fer::cuda {

// Number of usable CUDA devices (0 when the driver or a GPU is missing; never throws).
int device_count();
inline bool available() { return device_count() > 0; }
std::string device_name(int device);

// The caching allocator of one device: freed blocks are kept per size class and reused.
Allocator& caching_allocator(int device);

enum class CopyKind { host_to_device, device_to_host, device_to_device };
void copy(void* dst, const void* src, size_t bytes, CopyKind kind, int device);
void memset_zero(void* dst, size_t bytes, int device);
void synchronize(int device);

}  // namespace fer::cuda
