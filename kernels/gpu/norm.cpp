// Tensor-level side of the CUDA normalization kernels: checks devices and workspace sizes, unpacks, launches.
#include "fer/backend/cuda/norm.hpp"

#include "fer/core/error.hpp"
#include "kernels/cuda/norm_launch.hpp"
#include "kernels/gpu/tensor_checks.hpp"

namespace fer::gpu {

namespace {

struct Rows {
  int64_t m, c;
};
Rows rows_of(const Tensor& x) {
  int64_t c = x.size(x.dim() - 1);
  return {c ? x.numel() / c : 0, c};
}

const void* cptr(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }
void* ptr(const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; }

// The workspace's f64 accumulator, checked to hold the (2 * chunks + 2) * c values the kernels use.
double* acc_of(const char* op, const NormWorkspace& ws, int64_t chunks, int64_t c, int device) {
  FER_CHECK(ws.acc.defined() && ws.acc.dtype() == DType::f64 && ws.acc.device().is_cuda() &&
                ws.acc.device().index == device && ws.acc.numel() >= (2 * chunks + 2) * c,
            op, ": the workspace must be an f64 accumulator on the input's device (see gpu::make_norm_workspace)");
  return ws.acc.data<double>();
}

}  // namespace

NormWorkspace make_norm_workspace(int64_t m, int64_t c, DType dtype, Device device) {
  return {Tensor::empty({2 * cpu::norm_row_chunks(m, c) + 2, c}, DType::f64, device), Tensor::empty({3, c}, dtype, device)};
}

void batch_norm_stats(const Tensor& x, const NormWorkspace& ws, const Tensor& mean, const Tensor& invstd,
                      const Tensor& var, double eps) {
  int dev = cuda_device_of("batch_norm", {&x, &mean, &invstd, &var});
  auto [m, c] = rows_of(x);
  int64_t chunks = cpu::norm_row_chunks(m, c);
  cuda::launch_batch_norm_stats(x.dtype(), x.raw_data(), m, c, chunks, acc_of("batch_norm", ws, chunks, c, dev),
                                mean.raw_data(), invstd.raw_data(), ptr(var), eps, dev);
}

void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const NormWorkspace& ws, const Tensor& y, bool relu) {
  int dev = cuda_device_of("batch_norm", {&x, &mean, &invstd, &weight, &bias, &y});
  auto [m, c] = rows_of(x);
  cuda::launch_batch_norm_apply(x.dtype(), x.raw_data(), m, c, mean.raw_data(), invstd.raw_data(), cptr(weight),
                                cptr(bias), acc_of("batch_norm", ws, 1, c, dev), y.raw_data(), relu, dev);
}

void batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                         const Tensor& gy, bool batch_stats, const NormWorkspace& ws, const Tensor& gx,
                         const Tensor& gweight, const Tensor& gbias, const Tensor& relu_out) {
  int dev = cuda_device_of("batch_norm backward", {&x, &mean, &invstd, &weight, &gy, &gx, &gweight, &gbias, &relu_out});
  auto [m, c] = rows_of(x);
  int64_t chunks = cpu::norm_row_chunks(m, c);
  cuda::launch_batch_norm_backward(x.dtype(), x.raw_data(), mean.raw_data(), invstd.raw_data(), cptr(weight),
                                   gy.raw_data(), m, c, chunks, batch_stats,
                                   acc_of("batch_norm backward", ws, chunks, c, dev), ptr(gx), ptr(gweight),
                                   ptr(gbias), cptr(relu_out), dev);
}

void inverse_std(const Tensor& var, const Tensor& invstd, double eps) {
  int dev = cuda_device_of("batch_norm", {&var, &invstd});
  cuda::launch_inverse_std(var.dtype(), var.raw_data(), invstd.raw_data(), var.numel(), eps, dev);
}

void running_update(const Tensor& running, const Tensor& value, double momentum, double scale) {
  int dev = cuda_device_of("batch_norm running statistics", {&running, &value});
  cuda::launch_running_update(running.dtype(), running.raw_data(), value.raw_data(), running.numel(), momentum, scale,
                              dev);
}

void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd) {
  int dev = cuda_device_of("layer_norm", {&x, &weight, &bias, &y, &mean, &invstd});
  auto [m, c] = rows_of(x);
  cuda::launch_layer_norm_forward(x.dtype(), x.raw_data(), cptr(weight), cptr(bias), m, c, eps, y.raw_data(),
                                  mean.raw_data(), invstd.raw_data(), dev);
}

void layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, const NormWorkspace& ws, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias) {
  int dev = cuda_device_of("layer_norm backward", {&x, &weight, &mean, &invstd, &gy, &gx, &gweight, &gbias});
  auto [m, c] = rows_of(x);
  int64_t chunks = cpu::norm_row_chunks(m, c);
  double* acc = gweight.defined() || gbias.defined() ? acc_of("layer_norm backward", ws, chunks, c, dev) : nullptr;
  cuda::launch_layer_norm_backward(x.dtype(), x.raw_data(), cptr(weight), mean.raw_data(), invstd.raw_data(),
                                   gy.raw_data(), m, c, chunks, acc, ptr(gx), ptr(gweight), ptr(gbias), dev);
}

void increment_i64(const Tensor& t) {
  int dev = cuda_device_of("increment_i64", {&t});
  FER_CHECK(t.dtype() == DType::i64 && t.numel() == 1, "increment_i64: needs a one-element i64 tensor, got ", t.str());
  cuda::launch_increment_i64(t.data<int64_t>(), dev);
}

}  // namespace fer::gpu
