#pragma once
// The row-major GEMM that the CPU kernels build on (kernels/cpu/gemm.cpp): linear and matmul, the convolutions'
// patch-matrix products, the bias gradients. Private to the CPU kernels (and bench_gemm, test_gemm_kernels).
// f32 runs on fer's micro-kernels for the ISA that kernels::cpu_isa() chose (kernels/cpu/isa/), or on Eigen when
// that choice is "generic"; f64 always on Eigen.
//
// Threading: called outside a parallel region, gemm cuts a large product into one slab of C per OpenMP
// thread and runs each slab as a single-threaded product (Eigen's own threading is never used, see
// gemm.cpp). Called inside fer::parallel_for it runs single-threaded. Callers therefore either hand one
// large product to gemm, or partition the work themselves, never both at once (no oversubscription).
#include <cstdint>

namespace fer::cpu {

// C[m, n] (+)= op(A) * op(B) with row-major operands; op(A) is [m, k] (A stored [k, m] when trans_a),
// op(B) is [k, n] (B stored [n, k] when trans_b). `accumulate` adds into C instead of overwriting it.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
          int64_t ldb, T* c, int64_t ldc, bool accumulate);

// The k block of the f32 product of depth k (Eigen's, which the ISA kernels use too: f32 rounds alike on every
// path). Callers that run their own product of the same shape (the implicit-GEMM convolution) pass it on.
int64_t f32_k_block(int64_t k);

// out[j] += sum_i a[i, j] for a row-major [rows, cols] matrix (the bias gradient of linear and conv).
template <class T>
void add_column_sums(const T* a, int64_t rows, int64_t cols, T* out);

}  // namespace fer::cpu
