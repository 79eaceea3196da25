#pragma once
// Thin interface to the CUDA runtime, implemented in kernels/cuda/runtime.cpp. Only this header is seen by
// code that is not compiled by nvcc; without FER_WITH_CUDA, `available()` is false and the rest throws.
//
// Streams: every kernel, library call and copy of a device runs on that device's current stream (one per device,
// created on first use, never the legacy default stream, so a training step can be captured into a CUDA graph).
// Handles and streams are passed as void* here so that framework code never includes CUDA headers.
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
// Page-locked host memory (cudaHostAlloc), cached like the CPU pool: the source of asynchronous uploads.
Allocator& pinned_host_allocator();

enum class CopyKind { host_to_device, device_to_host, device_to_host_async, device_to_device };
// Copies on the device's stream. Host-to-device and device-to-device return without waiting (the host buffer must
// stay alive and unchanged until the stream reaches the copy: pinned buffers from the loader do); device_to_host
// waits, so the host sees the values on return.
void copy(void* dst, const void* src, size_t bytes, CopyKind kind, int device);
void memset_zero(void* dst, size_t bytes, int device);
void synchronize(int device);

// The device's stream (a cudaStream_t), cuBLAS handle (cublasHandle_t) and cuDNN handle (cudnnHandle_t), all
// bound to that stream.
void* stream(int device);
void* cublas_handle(int device);
void* cudnn_handle(int device);
// Throws with the kernel's name if the last launch failed (bad configuration, no kernel image for this GPU).
void check_launch(const char* kernel);

}  // namespace fer::cuda
