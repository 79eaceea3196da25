// Tensor-level side of the CUDA layout kernels: device and range checks (a strided map that leaves its storage is an
// error here rather than an out-of-bounds access on the device), then the launchers of kernels/cuda/shape.cu.
#include "fer/backend/cuda/shape.hpp"

#include "kernels/cuda/shape_launch.hpp"

namespace fer::gpu {

namespace {

int common_device(const char* what, const Tensor& a, const Tensor& b) {
  FER_CHECK(a.defined() && b.defined(), what, ": undefined tensor");
  FER_CHECK(a.device().is_cuda() && b.device() == a.device(), what, ": tensors on ", a.device().str(), " and ",
            b.device().str(), " given to the CUDA backend");
  FER_CHECK(a.dtype() == b.dtype(), what, ": dtype ", dtype_name(a.dtype()), " vs ", dtype_name(b.dtype()));
  return a.device().index;
}

// The elements reached through (offset, strides) over `shape` stay inside t's storage (counted from t's view start).
void check_range(const char* what, const Tensor& t, int64_t offset, const Shape& strides, const Shape& shape) {
  FER_CHECK(strides.size() == shape.size(), what, ": ", strides.size(), " strides for shape ", shape.str());
  if (shape.numel() == 0) return;
  int64_t lo = offset, hi = offset;
  for (int d = 0; d < shape.size(); ++d) {
    const int64_t span = (shape[d] - 1) * strides[d];
    (span < 0 ? lo : hi) += span;
  }
  const int64_t first = t.offset() + lo, last = t.offset() + hi;
  const int64_t capacity = int64_t(t.storage()->bytes() / dtype_size(t.dtype()));
  FER_CHECK(first >= 0 && last < capacity, what, ": strided access [", first, ", ", last, "] outside a storage of ",
            capacity, " elements");
}

cuda::MoveDims move_dims(const Shape& shape, const Shape& src_strides, const Shape& dst_strides) {
  cuda::MoveDims d;
  d.nd = shape.size();
  for (int k = 0; k < d.nd; ++k) d.size[k] = shape[k], d.src[k] = src_strides[k], d.dst[k] = dst_strides[k];
  return d;
}

// Accumulating through a zero stride over more than one index would race on the device (and sum on the CPU).
void check_distinct(const char* what, const Shape& shape, const Shape& strides) {
  for (int d = 0; d < shape.size(); ++d)
    FER_CHECK(strides[d] != 0 || shape[d] <= 1, what, ": accumulation through a zero stride (dim ", d, ")");
}

}  // namespace

void gather_strided(const Tensor& src, int64_t src_offset, const Shape& src_strides, const Tensor& dst, bool accumulate) {
  const int dev = common_device("gather", src, dst);
  FER_CHECK(dst.is_contiguous(), "gather: the destination must be contiguous");
  check_range("gather", src, src_offset, src_strides, dst.shape());
  const Shape dst_strides = contiguous_strides(dst.shape());
  cuda::launch_move_strided(src.raw_data(), src_offset, dst.raw_data(), 0, move_dims(dst.shape(), src_strides, dst_strides),
                            dst.numel(), accumulate, dst.dtype(), dev);
}

void scatter_strided(const Tensor& src, const Tensor& dst, int64_t dst_offset, const Shape& dst_strides, bool accumulate) {
  const int dev = common_device("scatter", src, dst);
  FER_CHECK(src.is_contiguous(), "scatter: the source must be contiguous");
  check_range("scatter", dst, dst_offset, dst_strides, src.shape());
  if (accumulate) check_distinct("scatter", src.shape(), dst_strides);
  const Shape src_strides = contiguous_strides(src.shape());
  cuda::launch_move_strided(src.raw_data(), 0, dst.raw_data(), dst_offset, move_dims(src.shape(), src_strides, dst_strides),
                            src.numel(), accumulate, src.dtype(), dev);
}

void pad2d_forward(const Tensor& x, const Tensor& y, int64_t top, int64_t left, double value) {
  const int dev = common_device("pad2d", x, y);
  FER_CHECK(x.dim() == 4 && y.dim() == 4 && x.size(0) == y.size(0) && x.size(3) == y.size(3) && x.is_contiguous() &&
                y.is_contiguous(),
            "pad2d: x ", x.shape().str(), " and y ", y.shape().str(), " must be contiguous NHWC with equal N and C");
  cuda::launch_pad2d_forward(x.raw_data(), y.raw_data(), x.size(0), x.size(1), x.size(2), x.size(3), y.size(1), y.size(2),
                             top, left, value, x.dtype(), dev);
}

void pad2d_backward(const Tensor& gy, const Tensor& gx, int64_t top, int64_t left) {
  if (!gx.defined()) return;
  const int dev = common_device("pad2d backward", gy, gx);
  FER_CHECK(gx.dim() == 4 && gy.dim() == 4 && gx.size(0) == gy.size(0) && gx.size(3) == gy.size(3) &&
                gx.is_contiguous() && gy.is_contiguous(),
            "pad2d backward: gy ", gy.shape().str(), " and gx ", gx.shape().str(),
            " must be contiguous NHWC with equal N and C");
  cuda::launch_pad2d_backward(gy.raw_data(), gx.raw_data(), gx.size(0), gx.size(1), gx.size(2), gx.size(3), gy.size(1),
                              gy.size(2), top, left, gx.dtype(), dev);
}

}  // namespace fer::gpu
