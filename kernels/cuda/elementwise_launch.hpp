#pragma once
// Launchers of the pointwise CUDA kernels (kernels/cuda/elementwise.cu), called by kernels/gpu/elementwise.cpp.
// Raw device pointers, element counts, the storage dtype and the device index; every launch runs on the device's
// current stream. `op` codes are the values of fer::cpu::Unary / fer::cpu::Binary (same order).
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// Up to 8 dims (fer::kMaxDims): an output shape and the element strides of up to two operands laid against it
// (0 where an operand broadcasts).
struct BroadcastDims {
  int nd = 0;
  int64_t size[8] = {};
  int64_t sa[8] = {};
  int64_t sb[8] = {};
};

void launch_unary_forward(int op, const void* x, void* y, int64_t n, double alpha, DType dt, int device);
void launch_unary_backward(int op, const void* x, const void* y, const void* gy, void* gx, int64_t n, double alpha,
                           DType dt, int device);
// y = a * x + b
void launch_affine(const void* x, void* y, int64_t n, double a, double b, DType dt, int device);
// gx += a * gy
void launch_axpy(const void* gy, void* gx, int64_t n, double a, DType dt, int device);
// y[i] = A op B over the output dims (y contiguous, n elements).
void launch_binary_forward(int op, const void* a, const void* b, void* y, const BroadcastDims& dims, int64_t n,
                           DType dt, int device);

// Reductions over broadcast dims, one target element at a time in a fixed order (deterministic, no atomics):
//   t[j] (+)= sum over the output elements o that map to j of term(o),
// with term one of the kinds below, g the upstream gradient (contiguous over `dims.size`), and A / B read through
// dims.sa / dims.sb. The target is laid against the output by `target_strides` (its contiguous strides, 0 where it
// broadcasts); it has `targets` elements. accumulate = false overwrites t.
enum class ReduceTerm : int {
  g = 0,            // g[o]              (add: both; sub: the first operand; sum_to)
  neg_g = 1,        // -g[o]             (sub: the second operand)
  g_times_b = 2,    // g[o] * B[o]       (mul: the first operand)
  g_times_a = 3,    // g[o] * A[o]       (mul: the second operand)
  g_div_b = 4,      // g[o] / B[o]       (div: the first operand)
  div_grad_b = 5,   // -g[o] * A / B^2   (div: the second operand)
};
void launch_broadcast_reduce(ReduceTerm term, const void* g, const void* a, const void* b, void* t,
                             const BroadcastDims& dims, const int64_t* target_strides, int64_t targets,
                             bool accumulate, DType dt, int device);

// gx[i] += scale * gy[through dims.sb] over gx's shape dims.size (gx contiguous, n elements).
void launch_broadcast_add(const void* gy, void* gx, const BroadcastDims& dims, int64_t n, double scale, DType dt,
                          int device);

}  // namespace fer::cuda
