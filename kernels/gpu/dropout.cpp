// Tensor-level side of the CUDA dropout kernels.
#include "fer/backend/cuda/dropout.hpp"

#include "kernels/cuda/dropout_launch.hpp"

namespace fer::gpu {

namespace {

void check_cuda(const char* what, const Tensor& t, int dev) {
  FER_CHECK(t.defined() && t.device().is_cuda() && t.device().index == dev, what, ": expected a tensor on cuda:", dev,
            t.defined() ? ", got one on " + t.device().str() : std::string(", got an undefined one"));
  FER_CHECK(t.is_contiguous(), what, ": the CUDA backend takes contiguous tensors");
}

void check_sizes(const char* what, const Tensor& data, const Tensor& mask, int64_t group) {
  FER_CHECK(group >= 1 && data.numel() == mask.numel() * group, what, ": ", data.numel(), " elements for ",
            mask.numel(), " mask groups of ", group);
  FER_CHECK(mask.dtype() == dropout_mask_dtype(data.dtype()), what, ": mask dtype ", dtype_name(mask.dtype()),
            " for data of dtype ", dtype_name(data.dtype()));
}

}  // namespace

void dropout_mask(const Tensor& mask, uint64_t key, double p, double scale) {
  FER_CHECK(mask.defined() && mask.device().is_cuda(), "dropout: the mask must be a CUDA tensor");
  check_cuda("dropout", mask, mask.device().index);
  cuda::launch_dropout_mask(mask.raw_data(), mask.numel(), key, p, scale, mask.dtype(), mask.device().index);
}

void masked_scale_forward(const Tensor& x, const Tensor& mask, const Tensor& y, int64_t group) {
  FER_CHECK(x.defined() && x.device().is_cuda(), "dropout: x must be a CUDA tensor");
  const int dev = x.device().index;
  check_cuda("dropout", x, dev);
  check_cuda("dropout", mask, dev);
  check_cuda("dropout", y, dev);
  FER_CHECK(y.dtype() == x.dtype() && y.numel() == x.numel(), "dropout: y ", y.str(), " for x ", x.str());
  if (x.numel() == 0) return;
  check_sizes("dropout", x, mask, group);
  cuda::launch_masked_scale_forward(x.raw_data(), mask.raw_data(), y.raw_data(), x.numel(), group, x.dtype(),
                                    mask.dtype(), dev);
}

void masked_scale_backward(const Tensor& gy, const Tensor& mask, const Tensor& gx, int64_t group) {
  if (!gx.defined()) return;
  FER_CHECK(gy.defined() && gy.device().is_cuda(), "dropout backward: gy must be a CUDA tensor");
  const int dev = gy.device().index;
  check_cuda("dropout backward", gy, dev);
  check_cuda("dropout backward", mask, dev);
  check_cuda("dropout backward", gx, dev);
  FER_CHECK(gx.dtype() == gy.dtype() && gx.numel() == gy.numel(), "dropout backward: gx ", gx.str(), " for gy ",
            gy.str());
  if (gy.numel() == 0) return;
  check_sizes("dropout backward", gy, mask, group);
  cuda::launch_masked_scale_backward(gy.raw_data(), mask.raw_data(), gx.raw_data(), gy.numel(), group, gy.dtype(),
                                     mask.dtype(), dev);
}

}  // namespace fer::gpu
