#pragma once
// CPU kernels for pointwise ops (kernels/cpu/elementwise.cpp). Inputs are contiguous; gradients accumulate.
#include "fer/core/tensor.hpp"

namespace fer::cpu {

enum class Unary {
  relu, relu6, leaky_relu, gelu, silu, hardswish, hardsigmoid, sigmoid, tanh,
  exp, log, sqrt, rsqrt, square, neg, abs
};
const char* unary_name(Unary op);

// y = f(x); `alpha` is the negative slope of leaky_relu.
void unary_forward(Unary op, const Tensor& x, const Tensor& y, double alpha);
// gx += gy * f'(x)   (some ops use y = f(x) instead of x)
void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx, double alpha);

// y = a * x + b (scalars)
void affine_scalar_forward(const Tensor& x, const Tensor& y, double a, double b);
// gx += a * gy
void axpy(const Tensor& gy, const Tensor& gx, double a);

enum class Binary { add, sub, mul, div };
// y = a op b with numpy broadcasting (a, b contiguous, y contiguous with the broadcast shape).
void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& y);
// ga += d(a op b)/da * gy summed over broadcast dims; likewise gb. Either may be undefined (skipped).
void binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& gy, const Tensor& ga, const Tensor& gb);

// y = sum of x over the dims where `y_shape_kept` (same rank as x) has size 1 and x does not.
void sum_to(const Tensor& x, const Tensor& y);
// gx += broadcast(gy) * scale   (gy has x's rank with 1s at reduced dims)
void broadcast_add(const Tensor& gy, const Tensor& gx, double scale);

}  // namespace fer::cpu
