#pragma once
// CPU matrix products (kernels/cpu/gemm.cpp): a row-major GEMM on Eigen and the tensor-level kernels of
// linear and matmul. Gradients accumulate (+=) into their buffers.
//
// Threading: called outside a parallel region, gemm cuts a large product into one slab of C per OpenMP
// thread and runs each slab as a single-threaded Eigen product (Eigen's own threading is never used, see
// gemm.cpp). Called inside fer::parallel_for it runs single-threaded. Callers therefore either hand one
// large product to gemm, or partition the work themselves, never both at once (no oversubscription).
#include <cstdint>

#include "fer/core/tensor.hpp"

namespace fer::cpu {

// C[m, n] (+)= op(A) * op(B) with row-major operands; op(A) is [m, k] (A stored [k, m] when trans_a),
// op(B) is [k, n] (B stored [n, k] when trans_b). `accumulate` adds into C instead of overwriting it.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T* c, int64_t ldc, bool accumulate);

// out[j] += sum_i a[i, j] for a row-major [rows, cols] matrix (the bias gradient of linear and conv).
template <class T>
void add_column_sums(const T* a, int64_t rows, int64_t cols, T* out);

// y[M, out] = x[M, in] * w[out, in]^T + bias (bias undefined or [out]).
void linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y);
// gx += gy * w; gw += gy^T * x; gb += column sums of gy. Undefined gradient tensors are skipped.
void linear_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                     const Tensor& gb);

// c (+)= op(a) * op(b) for [M, K] x [K, N] or batched [B, M, K] x [B, K, N] contiguous tensors (shapes as
// stored; trans_* transposes the last two dims of an operand).
void matmul_into(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, bool accumulate);

}  // namespace fer::cpu
