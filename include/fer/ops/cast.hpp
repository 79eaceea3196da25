#pragma once
// The recorded dtype conversion (autograd carries the gradient back in the source dtype), and the casts autocast
// inserts in front of ops (fer/autograd/autocast.hpp).
#include "fer/autograd/autocast.hpp"
#include "fer/kernels/cast.hpp"
#include "fer/ops/common.hpp"

namespace fer {

// x converted to a floating `dtype`; x itself when it already has it.
inline Tensor cast(const Tensor& x_in, DType dtype) {
  FER_CHECK(is_floating(x_in.dtype()) && is_floating(dtype), "cast: floating dtypes only (", dtype_name(x_in.dtype()),
            " -> ", dtype_name(dtype), ")");
  if (x_in.dtype() == dtype) return x_in;
  Tensor x = contiguous(x_in);
  Tensor y = Tensor::empty(x.shape(), dtype, x.device());
  autograd::apply(
      "cast", {x}, {y}, [=] { kernels::cast_forward({kernels::ref(x), kernels::ref(y)}); },
      [=] {
        if (x.requires_grad()) kernels::cast_backward({kernels::ref(y.grad()), kernels::ref(x.grad_buffer())});
      });
  return y;
}

namespace ops_detail {

// What autocast does to an op's floating inputs.
enum class AutocastPolicy {
  lower,   // conv, linear, matmul: run in the autocast dtype
  upcast,  // normalization, softmax, losses: run in f32
  promote  // binary pointwise ops: both operands in the wider of their dtypes
};

// The input as autocast wants it for an op of `policy` (unchanged outside autocast, on the CPU, or non-floating).
inline Tensor autocast_input(const Tensor& x, AutocastPolicy policy) {
  if (!autocast_enabled() || !x.defined() || !x.device().is_cuda() || !is_floating(x.dtype())) return x;
  if (x.dtype() == DType::f64) return x;  // f64 stays exact
  switch (policy) {
    case AutocastPolicy::lower: return cast(x, autocast_dtype());
    case AutocastPolicy::upcast: return cast(x, DType::f32);
    case AutocastPolicy::promote: return x;  // see autocast_pair
  }
  return x;
}

// Two operands of a pointwise op brought to a common dtype (the wider one), so mixed f32/16-bit values combine.
inline void autocast_pair(Tensor& a, Tensor& b) {
  if (!a.defined() || !b.defined() || a.dtype() == b.dtype()) return;
  if (!is_floating(a.dtype()) || !is_floating(b.dtype())) return;
  auto width = [](DType t) { return t == DType::f64 ? 3 : t == DType::f32 ? 2 : 1; };
  DType to = width(a.dtype()) >= width(b.dtype()) ? a.dtype() : b.dtype();
  if (to == DType::f64 || to == DType::f32) {
    a = cast(a, to), b = cast(b, to);
  } else {
    // f16 with bf16: f32 holds both exactly.
    a = cast(a, DType::f32), b = cast(b, DType::f32);
  }
}

}  // namespace ops_detail
}  // namespace fer
