#pragma once
// Thin interface to the CUDA runtime, implemented in kernels/cuda/runtime.cpp. Only this header is seen by
// code that is not compiled by nvcc. A build without CUDA links kernels/no_cuda/runtime.cpp instead: there
// `built_with_cuda()` and `available()` are false and everything else throws "built without CUDA".
//
// Streams: every kernel, library call and copy of a device runs on that device's current stream (one per device,
// created on first use, never the legacy default stream, so a training step can be captured into a CUDA graph).
// Handles and streams are passed as void* here so that framework code never includes CUDA headers.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "fer/core/allocator.hpp"

namespace fer {
// True when this build has the CUDA backend compiled in.
bool built_with_cuda();
}  // namespace fer

namespace fer::cuda {

// Number of usable CUDA devices (0 when the driver or a GPU is missing; never throws).
int device_count();
inline bool available() { return device_count() > 0; }
std::string device_name(int device);

// The caching allocator of one device: freed blocks are kept per size class and reused.
Allocator& caching_allocator(int device);
// Page-locked host memory (cudaHostAlloc), cached like the CPU pool: the source of asynchronous uploads. An upload is
// queued on the device's one stream, so it overlaps host work (the loader assembling the next batch, the host side of
// the next ops), not the GPU's own compute: that would need a second (copy) stream and an event.
Allocator& pinned_host_allocator();

enum class CopyKind { host_to_device, device_to_host, device_to_host_async, device_to_device };
// Copies on the device's stream. Host-to-device and device-to-device return without waiting (the host buffer must
// stay alive and unchanged until the stream reaches the copy: pinned buffers from the loader do); device_to_host
// waits, so the host sees the values on return. While the device's stream is being captured into a CUDA graph,
// device-to-device copies are recorded, and any copy touching host memory throws (a graph must not read a host
// buffer that may be gone at replay, and a download needs a synchronization that capture forbids).
void copy(void* dst, const void* src, size_t bytes, CopyKind kind, int device);
void memset_zero(void* dst, size_t bytes, int device);
// Waits for the device's stream; throws while that stream is being captured.
void synchronize(int device);
// True when all work queued on the device's stream has finished (cudaStreamQuery; does not wait).
bool stream_idle(int device);

// The device's stream (a cudaStream_t), cuBLAS handle (cublasHandle_t) and cuDNN handle (cudnnHandle_t), all
// bound to that stream.
void* stream(int device);
void* cublas_handle(int device);
void* cudnn_handle(int device);
// Throws with the kernel's name if the last launch failed (bad configuration, no kernel image for this GPU).
void check_launch(const char* kernel);

// ---- CUDA graphs
//
// Capture records the work queued on the device's stream (kernels, cuBLAS/cuDNN calls, device copies, memsets)
// without running it; the instantiated graph replays all of it with one launch. Capture uses the thread-local mode:
// this thread may not make "unsafe" calls (cudaMalloc, synchronizations) that would break the capture, which turns
// a mistake into an error instead of a wrong graph, while other threads (the loader allocating pinned memory) are
// not restricted, as they would be in the global mode.
//
// Memory: a kernel in a graph keeps the addresses it was recorded with. Every device block handed out by the caching
// allocator during a capture belongs to that capture's private pool: freed, it goes back to the pool, never to the
// general cache, so no later tensor shares memory a replay still writes. Blocks come from the pool, else from the
// general cache, else from cudaMalloc (not a stream operation: it runs once, at capture, and is not part of the
// graph). A block allocated before the capture and freed during it joins the pool as well (recorded kernels may use
// it). The pool is handed back to the general cache when the CapturedGraph is destroyed.

// True while the device's stream is being captured.
bool is_capturing(int device);

// An instantiated CUDA graph of one device and the private memory pool it was captured with.
class CapturedGraph {
 public:
  CapturedGraph() = default;
  ~CapturedGraph();
  CapturedGraph(CapturedGraph&& o) noexcept { *this = std::move(o); }
  CapturedGraph& operator=(CapturedGraph&& o) noexcept;
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Queues one replay on the device's stream (returns without waiting).
  void launch() const;
  bool valid() const { return exec_ != nullptr; }
  int device() const { return device_; }
  size_t num_nodes() const { return num_nodes_; }

 private:
  friend CapturedGraph end_capture(int device);
  void reset() noexcept;
  int device_ = -1;
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  uint64_t pool_ = 0;      // id of the private pool in the device's caching allocator
  size_t num_nodes_ = 0;
};

// Starts capturing the device's stream (one capture per device at a time). Creates the cuBLAS/cuDNN handles first:
// their creation allocates and synchronizes.
void begin_capture(int device);
// Ends the capture and instantiates it. Throws (and releases the pool) when the capture was invalidated.
CapturedGraph end_capture(int device);
// Ends a capture after a failure, discarding what was recorded and releasing its pool; never throws.
void abort_capture(int device) noexcept;
// begin_capture, work(), end_capture; on an exception from work the capture is aborted and the exception rethrown.
CapturedGraph capture(int device, const std::function<void()>& work);
// Bytes of device memory held by the private pools of live graphs (blocks in use and free), for tests and reports.
size_t graph_pool_bytes(int device);

}  // namespace fer::cuda
