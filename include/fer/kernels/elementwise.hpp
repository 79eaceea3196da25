#pragma once
// Kernel contract: pointwise ops (activations, unary math, scalar affine, broadcasting binary ops, sum-reductions).
// Defined by kernels/cpu/elementwise.cpp and kernels/cuda/elementwise.cu; a build without CUDA links
// kernels/no_cuda/elementwise.cpp. Tensors are contiguous, of one floating dtype, on one device; gradients
// accumulate; an undefined gradient is skipped. The CUDA side takes f32, f64, f16 and bf16 (16-bit storage, f32
// compute) and reduces over broadcast dims deterministically (fixed partition and order, no atomics).
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

enum class Unary {
  relu, relu6, leaky_relu, gelu, silu, hardswish, hardsigmoid, sigmoid, tanh,
  exp, log, sqrt, rsqrt, square, neg, abs
};
inline const char* unary_name(Unary op) {
  static const char* names[] = {"relu", "relu6", "leaky_relu", "gelu", "silu", "hardswish", "hardsigmoid", "sigmoid",
                                "tanh", "exp", "log", "sqrt", "rsqrt", "square", "neg", "abs"};
  return names[int(op)];
}

enum class Binary { add, sub, mul, div };

// `alpha` is the negative slope of leaky_relu. gy and gx are used by the backward only; without `accumulate` the
// backward writes gx (=) and never reads it (a first writer of a recorded step, fer/autograd/written_grads.hpp).
struct UnaryArgs {
  Unary op;
  TensorRef x, y, gy, gx;
  double alpha = 0.0;
  bool accumulate = true;
};

// y = f(x)
void unary_forward_cpu(const UnaryArgs&);
void unary_forward_cuda(const UnaryArgs&);
inline void unary_forward(const UnaryArgs& a) { run_on(a.x, unary_forward_cpu, unary_forward_cuda, a); }

// gx (+)= gy * f'(x)   (some ops use y = f(x) instead of x)
void unary_backward_cpu(const UnaryArgs&);
void unary_backward_cuda(const UnaryArgs&);
inline void unary_backward(const UnaryArgs& a) { run_on(a.x, unary_backward_cpu, unary_backward_cuda, a); }

// x and y have the same number of elements; y may be x.
struct AffineArgs {
  TensorRef x, y;
  double a = 1.0, b = 0.0;
};

// y = a * x + b (scalars)
void affine_scalar_forward_cpu(const AffineArgs&);
void affine_scalar_forward_cuda(const AffineArgs&);
inline void affine_scalar_forward(const AffineArgs& a) {
  run_on(a.x, affine_scalar_forward_cpu, affine_scalar_forward_cuda, a);
}

// gy and gx have the same number of elements.
struct AxpyArgs {
  TensorRef gy, gx;
  double a = 1.0;
};

// gx += a * gy
void axpy_cpu(const AxpyArgs&);
void axpy_cuda(const AxpyArgs&);
inline void axpy(const AxpyArgs& a) { run_on(a.gy, axpy_cpu, axpy_cuda, a); }

// a and b broadcast (numpy rules) to y's shape; gy has y's shape, ga a's and gb b's. Without accumulate_ga the
// backward writes ga (=) and never reads it; likewise gb.
struct BinaryArgs {
  Binary op;
  TensorRef a, b, y, gy, ga, gb;
  bool accumulate_ga = true, accumulate_gb = true;
};

// y = a op b
void binary_forward_cpu(const BinaryArgs&);
void binary_forward_cuda(const BinaryArgs&);
inline void binary_forward(const BinaryArgs& a) { run_on(a.y, binary_forward_cpu, binary_forward_cuda, a); }

// ga (+)= d(a op b)/da * gy summed over broadcast dims; likewise gb.
void binary_backward_cpu(const BinaryArgs&);
void binary_backward_cuda(const BinaryArgs&);
inline void binary_backward(const BinaryArgs& a) { run_on(a.gy, binary_backward_cpu, binary_backward_cuda, a); }

// y has x's rank, with size 1 where it is summed over.
struct SumToArgs {
  TensorRef x, y;
};

// y = sum of x over the dims where y has size 1 and x does not
void sum_to_cpu(const SumToArgs&);
void sum_to_cuda(const SumToArgs&);
inline void sum_to(const SumToArgs& a) { run_on(a.x, sum_to_cpu, sum_to_cuda, a); }

// gy has gx's rank with 1s at the dims it broadcasts over.
struct BroadcastAddArgs {
  TensorRef gy, gx;
  double scale = 1.0;
};

// gx += broadcast(gy) * scale
void broadcast_add_cpu(const BroadcastAddArgs&);
void broadcast_add_cuda(const BroadcastAddArgs&);
inline void broadcast_add(const BroadcastAddArgs& a) { run_on(a.gy, broadcast_add_cpu, broadcast_add_cuda, a); }

}  // namespace fer::kernels
