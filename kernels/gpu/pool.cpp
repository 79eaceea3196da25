// Tensor-level side of the CUDA pooling kernels: checks devices, dtypes and shapes, unpacks, launches.
#include "fer/backend/cuda/pool.hpp"

#include "fer/core/error.hpp"
#include "kernels/cuda/pool_launch.hpp"
#include "kernels/gpu/tensor_checks.hpp"

namespace fer::gpu {

namespace {

// Pooling has no optional tensors: every one must be defined.
int device_of(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts) FER_CHECK(t->defined(), op, ": undefined tensor");
  return cuda_device_of(op, ts);
}

cuda::PoolDims dims_of(const PoolGeometry& g) {
  return {g.n, g.h, g.w, g.c, g.ho, g.wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.count_include_pad};
}

void check_shapes(const char* op, const PoolGeometry& g, const Tensor& in, const Tensor& out) {
  FER_CHECK(in.shape() == Shape({g.n, g.h, g.w, g.c}) && out.shape() == Shape({g.n, g.ho, g.wo, g.c}), op,
            ": tensors ", in.shape().str(), " / ", out.shape().str(), " do not match the pooling geometry");
  FER_CHECK(in.dtype() == out.dtype(), op, ": dtype mismatch");
}

}  // namespace

void max_pool2d_forward(const PoolGeometry& g, const Tensor& x, const Tensor& y, const Tensor& argmax) {
  int dev = device_of("max_pool2d", {&x, &y, &argmax});
  check_shapes("max_pool2d", g, x, y);
  FER_CHECK(argmax.dtype() == DType::i32 && argmax.shape() == y.shape(), "max_pool2d: argmax must be i32 ", y.shape().str());
  cuda::launch_max_pool2d_forward(x.dtype(), dims_of(g), x.raw_data(), y.raw_data(), argmax.data<int32_t>(), dev);
}

void max_pool2d_backward(const PoolGeometry& g, const Tensor& gy, const Tensor& argmax, const Tensor& gx) {
  int dev = device_of("max_pool2d backward", {&gy, &argmax, &gx});
  check_shapes("max_pool2d backward", g, gx, gy);
  FER_CHECK(argmax.dtype() == DType::i32 && argmax.shape() == gy.shape(), "max_pool2d backward: argmax must be i32 ",
            gy.shape().str());
  cuda::launch_max_pool2d_backward(gy.dtype(), dims_of(g), gy.raw_data(), argmax.data<int32_t>(), gx.raw_data(), dev);
}

void avg_pool2d_forward(const PoolGeometry& g, const Tensor& x, const Tensor& y) {
  int dev = device_of("avg_pool2d", {&x, &y});
  check_shapes("avg_pool2d", g, x, y);
  cuda::launch_avg_pool2d_forward(x.dtype(), dims_of(g), x.raw_data(), y.raw_data(), dev);
}

void avg_pool2d_backward(const PoolGeometry& g, const Tensor& gy, const Tensor& gx) {
  int dev = device_of("avg_pool2d backward", {&gy, &gx});
  check_shapes("avg_pool2d backward", g, gx, gy);
  cuda::launch_avg_pool2d_backward(gy.dtype(), dims_of(g), gy.raw_data(), gx.raw_data(), dev);
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  int dev = device_of("adaptive_avg_pool2d", {&x, &y});
  FER_CHECK(x.dim() == 4 && y.dim() == 4 && x.size(0) == y.size(0) && x.size(3) == y.size(3) && x.dtype() == y.dtype(),
            "adaptive_avg_pool2d: input ", x.shape().str(), " and output ", y.shape().str(), " do not match");
  cuda::launch_adaptive_avg_pool2d_forward(x.dtype(), x.size(0), x.size(1), x.size(2), x.size(3), y.size(1), y.size(2),
                                           x.raw_data(), y.raw_data(), dev);
}

void adaptive_avg_pool2d_backward(const Tensor& gy, const Tensor& gx) {
  int dev = device_of("adaptive_avg_pool2d backward", {&gy, &gx});
  FER_CHECK(gx.dim() == 4 && gy.dim() == 4 && gx.size(0) == gy.size(0) && gx.size(3) == gy.size(3) &&
                gx.dtype() == gy.dtype(),
            "adaptive_avg_pool2d backward: gradients ", gy.shape().str(), " and ", gx.shape().str(), " do not match");
  cuda::launch_adaptive_avg_pool2d_backward(gy.dtype(), gx.size(0), gx.size(1), gx.size(2), gx.size(3), gy.size(1),
                                            gy.size(2), gy.raw_data(), gx.raw_data(), dev);
}

}  // namespace fer::gpu
