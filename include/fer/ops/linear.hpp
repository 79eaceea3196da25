#pragma once
// Dense layers with autograd: linear (PyTorch's Linear layout, weight [out, in]) and matmul (plain or batched).
#include "fer/kernels/gemm.hpp"
#include "fer/ops/common.hpp"
#include "fer/ops/cast.hpp"

namespace fer {

// y = x w^T + b for x [..., in], w [out, in], bias undefined or [out]; y is [..., out].
inline Tensor linear(const Tensor& x_arg, const Tensor& w_arg, const Tensor& bias_arg = Tensor()) {
  // Under autocast (CUDA) the product runs in the 16-bit type; the casts carry gradients back to f32.
  const Tensor x_in = ops_detail::autocast_input(x_arg, ops_detail::AutocastPolicy::lower), w_in = ops_detail::autocast_input(w_arg, ops_detail::AutocastPolicy::lower),
               bias_in = ops_detail::autocast_input(bias_arg, ops_detail::AutocastPolicy::lower);
  ops_detail::require_same_device("linear", {&x_in, &w_in, &bias_in});
  FER_CHECK(x_in.defined() && w_in.defined(), "linear: input and weight must be defined");
  FER_CHECK(x_in.dim() >= 1, "linear: input must have at least 1 dim, got ", x_in.shape().str());
  ops_detail::require_rank("linear", w_in, 2, "weight [out, in]");
  ops_detail::require_same_dtype("linear", x_in, w_in);
  int64_t in = w_in.size(1), out = w_in.size(0);
  FER_CHECK(x_in.size(-1) == in, "linear: input ", x_in.shape().str(), " has ", x_in.size(-1),
            " features but weight ", w_in.shape().str(), " expects ", in);
  if (bias_in.defined()) {
    ops_detail::require_same_dtype("linear", x_in, bias_in);
    FER_CHECK(bias_in.dim() == 1 && bias_in.size(0) == out, "linear: bias must be [", out, "], got ",
              bias_in.shape().str());
  }
  Tensor x = contiguous(x_in), w = contiguous(w_in);
  Tensor bias = bias_in.defined() ? contiguous(bias_in) : Tensor();
  Shape y_shape = x.shape();
  y_shape[y_shape.nd - 1] = out;
  int64_t rows = 1;
  for (int d = 0; d + 1 < x.dim(); ++d) rows *= x.size(d);
  Tensor y = Tensor::empty(y_shape, x.dtype(), x.device());
  // 2-d views of the same storage for the kernels (autograd state stays on x and y).
  Tensor x2 = x.view_as_shape({rows, in}), y2 = y.view_as_shape({rows, out});
  autograd::apply(
      "linear", {x, w, bias}, {y},
      [=] {
        using kernels::ref;
        kernels::linear_forward({ref(x2), ref(w), ref(bias), ref(y2)});
      },
      [=] {
        using kernels::ref;
        kernels::linear_backward({ref(x2), ref(w), ref(y.grad()), ref(x.requires_grad() ? x.grad_buffer() : Tensor()),
                                  ref(w.requires_grad() ? w.grad_buffer() : Tensor()),
                                  ref(bias.defined() && bias.requires_grad() ? bias.grad_buffer() : Tensor()),
                                  !autograd::overwrites(0)});
      },
      writable_grads({0}));  // x; weight and bias add
  return y;
}

// a [M, K] x b [K, N] -> [M, N], or batched a [B, M, K] x b [B, K, N] -> [B, M, N].
inline Tensor matmul(const Tensor& a_arg, const Tensor& b_arg) {
  const Tensor a_in = ops_detail::autocast_input(a_arg, ops_detail::AutocastPolicy::lower), b_in = ops_detail::autocast_input(b_arg, ops_detail::AutocastPolicy::lower);
  ops_detail::require_same_device("matmul", {&a_in, &b_in});
  FER_CHECK(a_in.defined() && b_in.defined(), "matmul: operands must be defined");
  ops_detail::require_same_dtype("matmul", a_in, b_in);
  FER_CHECK((a_in.dim() == 2 || a_in.dim() == 3) && b_in.dim() == a_in.dim(),
            "matmul: expected [M, K] x [K, N] or [B, M, K] x [B, K, N], got ", a_in.shape().str(), " x ",
            b_in.shape().str());
  FER_CHECK(a_in.size(-1) == b_in.size(-2), "matmul: inner dimensions differ: ", a_in.shape().str(), " x ",
            b_in.shape().str());
  if (a_in.dim() == 3)
    FER_CHECK(a_in.size(0) == b_in.size(0), "matmul: batch sizes differ: ", a_in.shape().str(), " x ",
              b_in.shape().str());
  Tensor a = contiguous(a_in), b = contiguous(b_in);
  Shape c_shape = a.shape();
  c_shape[c_shape.nd - 1] = b.size(-1);
  Tensor c = Tensor::empty(c_shape, a.dtype(), a.device());
  autograd::apply(
      "matmul", {a, b}, {c},
      [=] {
        using kernels::ref;
        kernels::matmul_into({ref(a), false, ref(b), false, ref(c), false});
      },
      [=] {
        using kernels::ref;
        Tensor gc = c.grad();
        // ga (+)= gc b^T; gb (+)= a^T gc
        if (a.requires_grad())
          kernels::matmul_into({ref(gc), false, ref(b), true, ref(a.grad_buffer()), !autograd::overwrites(0)});
        if (b.requires_grad())
          kernels::matmul_into({ref(a), true, ref(gc), false, ref(b.grad_buffer()), !autograd::overwrites(1)});
      },
      writable_grads({0, 1}));
  return c;
}

}  // namespace fer
