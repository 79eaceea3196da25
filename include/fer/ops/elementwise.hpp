#pragma once
// Pointwise ops with autograd: activations, unary math, scalar affine, broadcasting binary ops, sum/mean.
#include <algorithm>
#include <vector>

#include "fer/kernels/elementwise.hpp"
#include "fer/ops/cast.hpp"
#include "fer/ops/common.hpp"

namespace fer {

namespace ops_detail {

inline Tensor unary(kernels::Unary op, const Tensor& x_in, double alpha = 0.0) {
  Tensor x = contiguous(x_in);
  Tensor y = Tensor::empty_like(x);
  autograd::apply(
      kernels::unary_name(op), {x}, {y},
      [=] { kernels::unary_forward({op, kernels::ref(x), kernels::ref(y), {}, {}, alpha}); },
      [=] {
        if (x.requires_grad())
          kernels::unary_backward({op, kernels::ref(x), kernels::ref(y), kernels::ref(y.grad()),
                                   kernels::ref(x.grad_buffer()), alpha, !autograd::overwrites(0)});
      },
      writable_grads({0}));
  return y;
}

inline Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  Shape out;
  out.nd = std::max(a.nd, b.nd);
  for (int i = 0; i < out.nd; ++i) {
    int ia = a.nd - out.nd + i, ib = b.nd - out.nd + i;
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    FER_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a.str(), " and ", b.str(), " do not broadcast");
    out.d[i] = da == 1 ? db : da;
  }
  return out;
}

inline Tensor binary(kernels::Binary op, const char* name, const Tensor& a_arg, const Tensor& b_arg) {
  Tensor a_in = a_arg, b_in = b_arg;
  if (autocast_enabled()) autocast_pair(a_in, b_in);  // e.g. a 16-bit branch added to an f32 one
  require_same_device(name, {&a_in, &b_in});
  require_same_dtype(name, a_in, b_in);
  Tensor a = contiguous(a_in), b = contiguous(b_in);
  Tensor y = Tensor::empty(broadcast_shape(name, a.shape(), b.shape()), a.dtype(), a.device());
  autograd::apply(
      name, {a, b}, {y},
      [=] { kernels::binary_forward({op, kernels::ref(a), kernels::ref(b), kernels::ref(y), {}, {}, {}}); },
      [=] {
        kernels::binary_backward({op, kernels::ref(a), kernels::ref(b), {}, kernels::ref(y.grad()),
                                  kernels::ref(a.requires_grad() ? a.grad_buffer() : Tensor()),
                                  kernels::ref(b.requires_grad() ? b.grad_buffer() : Tensor()),
                                  !autograd::overwrites(0), !autograd::overwrites(1)});
      },
      writable_grads({0, 1}));
  return y;
}

}  // namespace ops_detail

// ---- activations (PyTorch semantics, including the derivative at kinks)
inline Tensor relu(const Tensor& x) { return ops_detail::unary(kernels::Unary::relu, x); }
inline Tensor relu6(const Tensor& x) { return ops_detail::unary(kernels::Unary::relu6, x); }
inline Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01) {
  return ops_detail::unary(kernels::Unary::leaky_relu, x, negative_slope);
}
inline Tensor gelu(const Tensor& x) { return ops_detail::unary(kernels::Unary::gelu, x); }  // exact (erf) form
inline Tensor silu(const Tensor& x) { return ops_detail::unary(kernels::Unary::silu, x); }
inline Tensor hardswish(const Tensor& x) { return ops_detail::unary(kernels::Unary::hardswish, x); }
inline Tensor hardsigmoid(const Tensor& x) { return ops_detail::unary(kernels::Unary::hardsigmoid, x); }
inline Tensor sigmoid(const Tensor& x) { return ops_detail::unary(kernels::Unary::sigmoid, x); }
inline Tensor tanh(const Tensor& x) { return ops_detail::unary(kernels::Unary::tanh, x); }

// ---- unary math
inline Tensor exp(const Tensor& x) { return ops_detail::unary(kernels::Unary::exp, x); }
inline Tensor log(const Tensor& x) { return ops_detail::unary(kernels::Unary::log, x); }
inline Tensor sqrt(const Tensor& x) { return ops_detail::unary(kernels::Unary::sqrt, x); }
inline Tensor rsqrt(const Tensor& x) { return ops_detail::unary(kernels::Unary::rsqrt, x); }
inline Tensor square(const Tensor& x) { return ops_detail::unary(kernels::Unary::square, x); }
inline Tensor neg(const Tensor& x) { return ops_detail::unary(kernels::Unary::neg, x); }
inline Tensor abs(const Tensor& x) { return ops_detail::unary(kernels::Unary::abs, x); }

// ---- y = a * x + b with scalars
inline Tensor affine(const Tensor& x_in, double a, double b = 0.0) {
  Tensor x = contiguous(x_in);
  Tensor y = Tensor::empty_like(x);
  autograd::apply(
      "affine", {x}, {y}, [=] { kernels::affine_scalar_forward({kernels::ref(x), kernels::ref(y), a, b}); },
      [=] {
        if (x.requires_grad()) kernels::axpy({kernels::ref(y.grad()), kernels::ref(x.grad_buffer()), a});
      });
  return y;
}
inline Tensor scale(const Tensor& x, double s) { return affine(x, s, 0.0); }
inline Tensor add_scalar(const Tensor& x, double s) { return affine(x, 1.0, s); }

// ---- broadcasting binary ops (numpy rules)
inline Tensor add(const Tensor& a, const Tensor& b) { return ops_detail::binary(kernels::Binary::add, "add", a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return ops_detail::binary(kernels::Binary::sub, "sub", a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return ops_detail::binary(kernels::Binary::mul, "mul", a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return ops_detail::binary(kernels::Binary::div, "div", a, b); }
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator*(const Tensor& a, double s) { return scale(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return scale(a, s); }

// ---- reductions: sum/mean over `dims` (negative counts from the end; empty = all), keepdim as PyTorch
inline Tensor sum(const Tensor& x_in, std::vector<int> dims = {}, bool keepdim = false, double scale_by = 1.0) {
  Tensor x = contiguous(x_in);
  Shape kept = x.shape();
  if (dims.empty())
    for (int d = 0; d < x.dim(); ++d) dims.push_back(d);
  for (int& d : dims) {
    if (d < 0) d += x.dim();
    FER_CHECK(d >= 0 && d < x.dim(), "sum: dim out of range for ", x.shape().str());
    kept[d] = 1;
  }
  Shape out_shape;
  if (keepdim) {
    out_shape = kept;
  } else {
    for (int d = 0; d < x.dim(); ++d)
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) out_shape.push_back(x.shape()[d]);
  }
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor y_kept = y.view_as_shape(kept);  // same storage, x's rank
  autograd::apply(
      "sum", {x}, {y},
      [=] {
        kernels::sum_to({kernels::ref(x), kernels::ref(y_kept)});
        if (scale_by != 1.0)
          kernels::affine_scalar_forward({kernels::ref(y_kept), kernels::ref(y_kept), scale_by, 0.0});
      },
      [=] {
        if (x.requires_grad())
          kernels::broadcast_add(
              {kernels::ref(y.grad().view_as_shape(kept)), kernels::ref(x.grad_buffer()), scale_by});
      });
  return y;
}

inline Tensor mean(const Tensor& x, std::vector<int> dims = {}, bool keepdim = false) {
  int64_t count = 1;
  if (dims.empty()) count = x.numel();
  for (int d : dims) count *= x.size(d);
  return sum(x, dims, keepdim, count ? 1.0 / double(count) : 1.0);
}

}  // namespace fer
