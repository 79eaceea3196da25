// Tensor-level side of the CUDA dtype conversion.
#include "fer/backend/cuda/cast.hpp"

#include "kernels/cuda/cast_launch.hpp"

namespace fer::gpu {

namespace {
void run(const Tensor& src, const Tensor& dst, bool accumulate) {
  FER_CHECK(src.numel() == dst.numel(), "cast: ", src.numel(), " elements into ", dst.numel());
  FER_CHECK(src.device() == dst.device() && src.device().is_cuda(), "cast: both tensors must be on one CUDA device");
  FER_CHECK(src.is_contiguous() && dst.is_contiguous(), "cast: contiguous tensors expected");
  cuda::launch_cast(src.raw_data(), src.dtype(), dst.raw_data(), dst.dtype(), src.numel(), accumulate, src.device().index);
}
}  // namespace

void cast_forward(const Tensor& x, const Tensor& y) { run(x, y, false); }
void cast_backward(const Tensor& gy, const Tensor& gx) { run(gy, gx, true); }

}  // namespace fer::gpu
