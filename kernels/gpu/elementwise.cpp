// Tensor-level side of the CUDA pointwise kernels: checks devices and shapes, lays operands against the output's
// dims, and calls the launchers of kernels/cuda/elementwise.cu.
#include "fer/backend/cuda/elementwise.hpp"

#include "kernels/cuda/elementwise_launch.hpp"
#include "kernels/gpu/tensor_checks.hpp"

namespace fer::gpu {

namespace {

static_assert(int(Unary::abs) == 15 && int(Unary::relu) == 0, "launcher op codes follow fer::cpu::Unary");
static_assert(int(Binary::div) == 3 && int(Binary::add) == 0, "launcher op codes follow fer::cpu::Binary");

// Strides of t laid against `out` (right-aligned, 0 where t broadcasts), as the CPU backend's.
void broadcast_strides(const Tensor& t, const Shape& out, int64_t* st) {
  const int shift = out.nd - t.dim();
  FER_CHECK(shift >= 0, "broadcast: ", t.shape().str(), " has more dims than ", out.str());
  const Shape tst = contiguous_strides(t.shape());
  for (int d = 0; d < out.nd; ++d) {
    const int td = d - shift;
    FER_CHECK(td < 0 || t.shape()[td] == 1 || t.shape()[td] == out[d], "broadcast: ", t.shape().str(),
              " does not broadcast to ", out.str());
    st[d] = (td < 0 || t.shape()[td] == 1) ? 0 : tst[td];
  }
}

cuda::BroadcastDims dims_of(const Shape& out) {
  cuda::BroadcastDims d;
  d.nd = out.nd;
  for (int k = 0; k < out.nd; ++k) d.size[k] = out[k];
  return d;
}

void check_same_numel(const char* what, const Tensor& a, const Tensor& b) {
  FER_CHECK(a.numel() == b.numel(), what, ": ", a.shape().str(), " vs ", b.shape().str());
}

}  // namespace

void unary_forward(Unary op, const Tensor& x, const Tensor& y, double alpha) {
  const int dev = cuda_device_of(cpu::unary_name(op), {&x, &y}, /*same_dtype=*/true);
  check_same_numel(cpu::unary_name(op), x, y);
  cuda::launch_unary_forward(int(op), x.raw_data(), y.raw_data(), x.numel(), alpha, x.dtype(), dev);
}

void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx, double alpha) {
  if (!gx.defined()) return;
  const int dev = cuda_device_of(cpu::unary_name(op), {&x, &y, &gy, &gx}, /*same_dtype=*/true);
  check_same_numel(cpu::unary_name(op), x, y);
  check_same_numel(cpu::unary_name(op), x, gy);
  check_same_numel(cpu::unary_name(op), x, gx);
  cuda::launch_unary_backward(int(op), x.raw_data(), y.raw_data(), gy.raw_data(), gx.raw_data(), x.numel(), alpha,
                              x.dtype(), dev);
}

void affine_scalar_forward(const Tensor& x, const Tensor& y, double a, double b) {
  const int dev = cuda_device_of("affine", {&x, &y}, /*same_dtype=*/true);
  check_same_numel("affine", x, y);
  cuda::launch_affine(x.raw_data(), y.raw_data(), x.numel(), a, b, x.dtype(), dev);
}

void axpy(const Tensor& gy, const Tensor& gx, double a) {
  if (!gx.defined()) return;
  const int dev = cuda_device_of("axpy", {&gy, &gx}, /*same_dtype=*/true);
  check_same_numel("axpy", gy, gx);
  cuda::launch_axpy(gy.raw_data(), gx.raw_data(), gy.numel(), a, gy.dtype(), dev);
}

void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& y) {
  const int dev = cuda_device_of("binary op", {&a, &b, &y}, /*same_dtype=*/true);
  cuda::BroadcastDims d = dims_of(y.shape());
  broadcast_strides(a, y.shape(), d.sa);
  broadcast_strides(b, y.shape(), d.sb);
  cuda::launch_binary_forward(int(op), a.raw_data(), b.raw_data(), y.raw_data(), d, y.numel(), y.dtype(), dev);
}

void binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& gy, const Tensor& ga, const Tensor& gb) {
  const int dev = cuda_device_of("binary op backward", {&a, &b, &gy, &ga, &gb}, /*same_dtype=*/true);
  cuda::BroadcastDims d = dims_of(gy.shape());
  broadcast_strides(a, gy.shape(), d.sa);
  broadcast_strides(b, gy.shape(), d.sb);
  using T = cuda::ReduceTerm;
  // One deterministic reduction per operand; two launches on one stream also keep ga == gb (x * x) correct.
  if (ga.defined()) {
    FER_CHECK(ga.shape() == a.shape(), "binary op backward: ga ", ga.shape().str(), " vs a ", a.shape().str());
    const T term = op == Binary::mul ? T::g_times_b : op == Binary::div ? T::g_div_b : T::g;
    cuda::launch_broadcast_reduce(term, gy.raw_data(), a.raw_data(), b.raw_data(), ga.raw_data(), d, d.sa, ga.numel(),
                                  true, gy.dtype(), dev);
  }
  if (gb.defined()) {
    FER_CHECK(gb.shape() == b.shape(), "binary op backward: gb ", gb.shape().str(), " vs b ", b.shape().str());
    const T term = op == Binary::add ? T::g : op == Binary::sub ? T::neg_g : op == Binary::mul ? T::g_times_a
                                                                                                : T::div_grad_b;
    cuda::launch_broadcast_reduce(term, gy.raw_data(), a.raw_data(), b.raw_data(), gb.raw_data(), d, d.sb, gb.numel(),
                                  true, gy.dtype(), dev);
  }
}

void sum_to(const Tensor& x, const Tensor& y) {
  const int dev = cuda_device_of("sum", {&x, &y}, /*same_dtype=*/true);
  FER_CHECK(y.dim() == x.dim(), "sum: target ", y.shape().str(), " must have the rank of ", x.shape().str());
  cuda::BroadcastDims d = dims_of(x.shape());
  int64_t ts[8] = {};
  broadcast_strides(y, x.shape(), ts);
  // The operand slots are unused by the plain term.
  cuda::launch_broadcast_reduce(cuda::ReduceTerm::g, x.raw_data(), nullptr, nullptr, y.raw_data(), d, ts, y.numel(),
                                false, x.dtype(), dev);
}

void broadcast_add(const Tensor& gy, const Tensor& gx, double scale) {
  if (!gx.defined()) return;
  const int dev = cuda_device_of("sum backward", {&gy, &gx}, /*same_dtype=*/true);
  cuda::BroadcastDims d = dims_of(gx.shape());
  broadcast_strides(gy, gx.shape(), d.sb);
  cuda::launch_broadcast_add(gy.raw_data(), gx.raw_data(), d, gx.numel(), scale, gx.dtype(), dev);
}

}  // namespace fer::gpu
