// CUDA runtime glue: device discovery, the caching allocators, streams and library handles, copies. Plain C++
// against the runtime API.
#include "fer/kernels/runtime.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <map>
#include <memory>
#include <mutex>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

namespace fer {
bool built_with_cuda() { return true; }
}  // namespace fer

namespace fer::cuda {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA error in ", what, ": ", cudaGetErrorString(e));
}

// Caches freed blocks by size class (same classes as the CPU pool); the system free happens only in empty_cache().
// Device blocks are reused in stream order: every kernel runs on the device's one stream, so a block freed on the
// host can be handed out again at once (the next use is queued behind the last use).
//
// Graph pools: while a capture is open (open_pool .. close_capture), blocks are served from and owned by that
// capture's pool; a freed pool block returns to its pool, where only later allocations of the same capture can take
// it again (safe: the graph runs those uses in stream order), so addresses baked into a graph are never shared with
// tensors outside it. A block allocated before the capture and freed during it joins the pool too (the graph may
// have recorded kernels that use it).
// release_pool hands the pool's free blocks to the general cache and forgets the owner of those still in use (their
// later free goes to the general cache). The pool's free blocks count in bytes_cached, its used ones in bytes_in_use.
class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  void* allocate(size_t bytes, size_t* granted) override {
    size_t cls = pool_size_class(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.allocs;
    void* p = capturing_ ? take_for_capture(cls) : take_cached(free_, cls);
    if (!p) {
      cudaError_t e = capturing_ ? system_alloc_capturing(&p, cls) : system_alloc(&p, cls);
      if (e == cudaErrorMemoryAllocation && !capturing_) {  // release the cache and retry once
        cudaGetLastError();
        release_locked();
        e = system_alloc(&p, cls);
      }
      // During a capture the cache cannot be released: freeing synchronizes, which capture forbids.
      check(e, device_ < 0 ? "cudaHostAlloc" : capturing_ ? "cudaMalloc (during CUDA graph capture)" : "cudaMalloc");
      ++stats_.system_allocs;
      if (capturing_) adopt(p, cls);
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
    auto o = owner_.find(p);
    if (o != owner_.end()) {
      pools_.at(o->second).free.emplace(granted, p);
    } else if (capturing_) {
      // Allocated before the capture, freed during it: kernels of the graph may have used it, so the graph keeps it.
      adopt(p, granted);
      pools_.at(capturing_).free.emplace(granted, p);
    } else {
      free_.emplace(granted, p);
    }
  }
  AllocatorStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    FER_CHECK(!capturing_, "empty_cache on cuda:", device_, " during CUDA graph capture: freeing memory synchronizes "
              "the device, which would invalidate the capture");
    release_locked();
  }

  // Opens a private pool and routes every allocation to it until close_capture(); returns its id.
  uint64_t open_pool() {
    std::lock_guard<std::mutex> lock(mu_);
    FER_CHECK(!capturing_, "cuda:", device_, ": a CUDA graph capture is already open on this device");
    uint64_t id = ++next_pool_;
    pools_[id];
    capturing_ = id;
    return id;
  }
  void close_capture() {
    std::lock_guard<std::mutex> lock(mu_);
    capturing_ = 0;
  }
  // Called once the graph that used pool `id` is destroyed (or was never made).
  void release_pool(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (capturing_ == id) capturing_ = 0;
    auto it = pools_.find(id);
    if (it == pools_.end()) return;
    // Free blocks join the general cache; a later user is queued on the stream behind any replay still running.
    for (auto& [cls, p] : it->second.free) free_.emplace(cls, p);
    for (auto o = owner_.begin(); o != owner_.end();) o = o->second == id ? owner_.erase(o) : std::next(o);
    pools_.erase(it);
  }
  // Bytes owned by live pools, in use or free.
  size_t pool_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (auto& [id, pool] : pools_) n += pool.bytes;
    return n;
  }

 private:
  struct Pool {
    std::multimap<size_t, void*> free;
    size_t bytes = 0;  // every block the pool owns
  };

  void* take_cached(std::multimap<size_t, void*>& from, size_t cls) {
    auto it = from.find(cls);
    if (it == from.end()) return nullptr;
    void* p = it->second;
    from.erase(it);
    stats_.bytes_cached -= cls;
    return p;
  }
  // The pool's own free block first; else a block of the general cache becomes the pool's (it was free, and the
  // graph's use of it is ordered on the stream after every earlier use).
  void* take_for_capture(size_t cls) {
    if (void* p = take_cached(pools_.at(capturing_).free, cls)) return p;
    void* p = take_cached(free_, cls);
    if (p) adopt(p, cls);
    return p;
  }
  void adopt(void* p, size_t cls) {
    owner_[p] = capturing_;
    pools_.at(capturing_).bytes += cls;
  }
  cudaError_t system_alloc(void** p, size_t bytes) {
    if (device_ < 0) return cudaHostAlloc(p, bytes, cudaHostAllocDefault);
    check(cudaSetDevice(device_), "cudaSetDevice");
    return cudaMalloc(p, bytes);
  }
  // cudaMalloc is not a stream operation: capture does not record it, it runs once, now, and the graph keeps the
  // address (the pool keeps the block). The thread-local capture mode forbids it as "potentially unsafe", so this
  // thread is relaxed for this one call.
  cudaError_t system_alloc_capturing(void** p, size_t bytes) {
    cudaError_t e = cudaSetDevice(device_);
    if (e != cudaSuccess) return e;
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    e = cudaThreadExchangeStreamCaptureMode(&mode);
    if (e != cudaSuccess) return e;
    e = cudaMalloc(p, bytes);
    cudaThreadExchangeStreamCaptureMode(&mode);  // back to the capture's mode
    return e;
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
    stats_.bytes_cached -= [&] {
      size_t n = 0;
      for (auto& [cls, p] : free_) n += cls;
      return n;
    }();
    free_.clear();
  }
  int device_;  // -1: pinned host memory
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;
  AllocatorStats stats_;
  uint64_t capturing_ = 0;  // pool of the open capture, 0 when none
  uint64_t next_pool_ = 0;
  std::map<uint64_t, Pool> pools_;
  std::unordered_map<void*, uint64_t> owner_;  // pool blocks (in use or free) -> pool id
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

namespace {
CachingAllocator& device_allocator(int device) {
  FER_CHECK(device >= 0 && device < device_count(), "CUDA device ", device, " requested but ", device_count(),
            " CUDA device(s) are available");
  static std::mutex mu;
  static std::vector<CachingAllocator*> allocators;  // leaked on purpose: outlive static tensors
  std::lock_guard<std::mutex> lock(mu);
  if (allocators.empty())
    for (int i = 0; i < device_count(); ++i) allocators.push_back(new CachingAllocator(i));
  return *allocators[size_t(device)];
}
}  // namespace

Allocator& caching_allocator(int device) { return device_allocator(device); }

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
    // A user workspace (set after cublasSetStream, which resets it): otherwise cuBLAS allocates its own per stream
    // on first use, which a graph capture forbids. Sizes as NVIDIA recommends; kept for the process, like the handle.
    int major = 0;
    check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
    size_t bytes = size_t(major >= 9 ? 32 : 4) << 20;
    void* workspace = nullptr;
    check(cudaMalloc(&workspace, bytes), "cudaMalloc (cuBLAS workspace)");
    FER_CHECK(cublasSetWorkspace(c.cublas, workspace, bytes) == CUBLAS_STATUS_SUCCESS, "cublasSetWorkspace failed");
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

namespace {
bool capturing(cudaStream_t s) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  check(cudaStreamIsCapturing(s, &status), "cudaStreamIsCapturing");
  return status != cudaStreamCaptureStatusNone;  // active, or invalidated and not yet ended
}
void forbid_during_capture(cudaStream_t s, int device, const char* what) {
  if (capturing(s))
    fail(what, " on cuda:", device, " while its stream is being captured into a CUDA graph: host copies and "
         "synchronizations cannot be part of a graph (upload inputs into placeholders before a replay, read results "
         "after it; run ops that return host values, like cross_entropy, outside the graph)");
}
}  // namespace

void copy(void* dst, const void* src, size_t bytes, CopyKind kind, int device) {
  if (bytes == 0) return;
  check(cudaSetDevice(device), "cudaSetDevice");
  auto s = static_cast<cudaStream_t>(stream(device));
  if (kind != CopyKind::device_to_device)
    forbid_during_capture(s, device, kind == CopyKind::host_to_device ? "a host-to-device copy" : "a device-to-host copy");
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
  auto s = static_cast<cudaStream_t>(stream(device));
  forbid_during_capture(s, device, "a stream synchronization");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
}

bool stream_idle(int device) {
  auto s = static_cast<cudaStream_t>(stream(device));
  forbid_during_capture(s, device, "a stream query");
  cudaError_t e = cudaStreamQuery(s);
  if (e == cudaErrorNotReady) {
    cudaGetLastError();  // "not ready" is an answer, not a failure: keep it out of the next check_launch
    return false;
  }
  check(e, "cudaStreamQuery");
  return true;
}

// ---- CUDA graphs

bool is_capturing(int device) { return capturing(static_cast<cudaStream_t>(stream(device))); }

namespace {
// The pool of the capture open on each device (0: none); touched only by begin/end/abort_capture.
std::mutex capture_mu;
std::map<int, uint64_t> open_pools;

uint64_t take_open_pool(int device) {
  std::lock_guard<std::mutex> lock(capture_mu);
  auto it = open_pools.find(device);
  if (it == open_pools.end()) return 0;
  uint64_t id = it->second;
  open_pools.erase(it);
  return id;
}
}  // namespace

void begin_capture(int device) {
  auto s = static_cast<cudaStream_t>(stream(device));
  FER_CHECK(!capturing(s), "begin_capture: the stream of cuda:", device, " is already being captured");
  cublas_handle(device);  // created now: creation allocates and synchronizes
  cudnn_handle(device);
  check(cudaSetDevice(device), "cudaSetDevice");
  uint64_t pool = device_allocator(device).open_pool();
  cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    device_allocator(device).release_pool(pool);
    check(e, "cudaStreamBeginCapture");
  }
  std::lock_guard<std::mutex> lock(capture_mu);
  open_pools[device] = pool;
}

CapturedGraph end_capture(int device) {
  auto s = static_cast<cudaStream_t>(stream(device));
  uint64_t pool = take_open_pool(device);
  FER_CHECK(pool != 0, "end_capture: no capture was begun on cuda:", device);
  CachingAllocator& a = device_allocator(device);
  a.close_capture();
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(s, &graph);
  if (e != cudaSuccess || !graph) {
    cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    a.release_pool(pool);
    fail("CUDA graph capture on cuda:", device, " failed: ", cudaGetErrorString(e),
         " (an operation that cannot be captured, e.g. a synchronization or a host copy, ran during the capture)");
  }
  CapturedGraph g;
  g.device_ = device;
  g.graph_ = graph;
  g.pool_ = pool;  // from here on, g's destructor releases the graph and the pool
  cudaGraphGetNodes(graph, nullptr, &g.num_nodes_);
  cudaGraphExec_t exec = nullptr;
  check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  g.exec_ = exec;
  check(cudaGraphUpload(exec, s), "cudaGraphUpload");  // moves setup work out of the first launch
  return g;
}

void abort_capture(int device) noexcept {
  uint64_t pool = take_open_pool(device);
  if (pool == 0) return;
  cudaSetDevice(device);
  CachingAllocator& a = device_allocator(device);
  a.close_capture();
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(static_cast<cudaStream_t>(stream(device)), &graph);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // the capture's failure (if it was invalidated) is not the caller's error
  a.release_pool(pool);
}

CapturedGraph capture(int device, const std::function<void()>& work) {
  begin_capture(device);
  try {
    work();
  } catch (...) {
    abort_capture(device);
    throw;
  }
  return end_capture(device);
}

size_t graph_pool_bytes(int device) { return device_allocator(device).pool_bytes(); }

void CapturedGraph::reset() noexcept {
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));  // a launch in flight completes first
  if (graph_) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  if (pool_) device_allocator(device_).release_pool(pool_);
  exec_ = graph_ = nullptr;
  pool_ = 0;
  num_nodes_ = 0;
  device_ = -1;
}

CapturedGraph::~CapturedGraph() { reset(); }

CapturedGraph& CapturedGraph::operator=(CapturedGraph&& o) noexcept {
  if (this != &o) {
    reset();
    device_ = std::exchange(o.device_, -1);
    graph_ = std::exchange(o.graph_, nullptr);
    exec_ = std::exchange(o.exec_, nullptr);
    pool_ = std::exchange(o.pool_, 0);
    num_nodes_ = std::exchange(o.num_nodes_, 0);
  }
  return *this;
}

void CapturedGraph::launch() const {
  FER_CHECK(exec_, "CapturedGraph::launch on an empty graph");
  check(cudaSetDevice(device_), "cudaSetDevice");
  check(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), static_cast<cudaStream_t>(stream(device_))),
        "cudaGraphLaunch");
}

}  // namespace fer::cuda
