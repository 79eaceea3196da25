// The CUDA runtime interface in a build without CUDA: no device is ever available, so tensors stay on the CPU and
// anything that would reach a device says why it cannot.
#include "fer/kernels/runtime.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer {
bool built_with_cuda() { return false; }
}  // namespace fer

namespace fer::cuda {

using kernels::no_cuda;

int device_count() { return 0; }
std::string device_name(int) { no_cuda("device_name"); }
Allocator& caching_allocator(int) { no_cuda("caching_allocator"); }
Allocator& pinned_host_allocator() { no_cuda("pinned_host_allocator"); }
void copy(void*, const void*, size_t, CopyKind, int) { no_cuda("copy"); }
void memset_zero(void*, size_t, int) { no_cuda("memset_zero"); }
void synchronize(int) { no_cuda("synchronize"); }
bool stream_idle(int) { return true; }
void* stream(int) { no_cuda("stream"); }
void* cublas_handle(int) { no_cuda("cublas_handle"); }
void* cudnn_handle(int) { no_cuda("cudnn_handle"); }
void check_launch(const char* kernel) { no_cuda(kernel); }
bool is_capturing(int) { return false; }
void begin_capture(int) { no_cuda("begin_capture"); }
CapturedGraph end_capture(int) { no_cuda("end_capture"); }
void abort_capture(int) noexcept {}
CapturedGraph capture(int, const std::function<void()>&) { no_cuda("capture"); }
size_t graph_pool_bytes(int) { return 0; }

// An empty graph (the only kind that can exist here) owns nothing.
CapturedGraph::~CapturedGraph() = default;
CapturedGraph& CapturedGraph::operator=(CapturedGraph&&) noexcept { return *this; }
void CapturedGraph::launch() const { no_cuda("CapturedGraph::launch"); }
void CapturedGraph::reset() noexcept {}

}  // namespace fer::cuda
