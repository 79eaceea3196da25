// Floating dtype conversion (autocast's casts and their gradients): one grid-stride loop per dtype pair.
#include "fer/kernels/cast.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"

namespace fer::cuda {

namespace {

template <class S, class D>
__global__ void cast_kernel(const S* __restrict__ src, D* __restrict__ dst, int64_t n, bool accumulate) {
  using Acc = typename Compute<D>::type;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    Acc v = static_cast<Acc>(load(src, i));
    if (accumulate) v += static_cast<Acc>(load(dst, i));
    store(dst, i, v);
  }
}

template <class S>
void launch_to(const S* src, void* dst, DType dst_dtype, int64_t n, bool accumulate, cudaStream_t s) {
  FER_CUDA_FLOAT_SWITCH(dst_dtype, "cast", {
    cast_kernel<S, scalar_t><<<blocks_for(n), kThreads, 0, s>>>(src, static_cast<scalar_t*>(dst), n, accumulate);
  });
}

void launch_cast(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n, bool accumulate, int device) {
  cudaStream_t s = current_stream(device);
  FER_CUDA_FLOAT_SWITCH(src_dtype, "cast", {
    launch_to(static_cast<const scalar_t*>(src), dst, dst_dtype, n, accumulate, s);
  });
  check_launch("cast");
}

void run_cast(const kernels::CastArgs& a, bool accumulate) {
  const kernels::TensorRef &src = a.src, &dst = a.dst;
  FER_CHECK(src.numel() == dst.numel(), "cast: ", src.numel(), " elements into ", dst.numel());
  const int device = cuda_device_of("cast", {&src, &dst});
  if (src.numel() == 0) return;
  launch_cast(src.raw_data(), src.dtype(), dst.raw_data(), dst.dtype(), src.numel(), accumulate, device);
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {
void cast_forward_cuda(const CastArgs& a) { cuda::run_cast(a, false); }
void cast_backward_cuda(const CastArgs& a) { cuda::run_cast(a, true); }
}  // namespace fer::kernels
