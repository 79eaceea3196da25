#pragma once
// Launchers of the CUDA matrix products (kernels/cuda/gemm.cu): cuBLAS GEMMs on row-major operands, and the small
// kernels around them (bias rows, column sums). Raw pointers; sizes in elements; every call runs on the device's
// stream.
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// f32 products (GEMM and cuDNN convolutions) may use TF32 tensor cores only after set_allow_tf32(true); the
// default is exact f32, like PyTorch's matmul default.
void set_allow_tf32(bool on);
bool allow_tf32();

// For each of `batch` items: C[m, n] (+)= op(A) op(B), row-major, op(A) [m, k] (A stored [k, m] when trans_a),
// op(B) [k, n] (B stored [n, k] when trans_b); item i starts at a + i * stride_a (elements), and so on.
// f32/f64 compute in their own precision, f16/bf16 in f32. Without `accumulate` C is never read.
void gemm(DType dt, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda,
          int64_t stride_a, const void* b, int64_t ldb, int64_t stride_b, void* c, int64_t ldc, int64_t stride_c,
          int64_t batch, bool accumulate, int device);

// out[r, :] = row[:] for a contiguous [rows, cols] matrix.
void fill_rows(DType dt, const void* row, int64_t rows, int64_t cols, void* out, int device);

// Row chunks of the column sums below; more than one needs a partials buffer.
int64_t column_sum_chunks(int64_t rows, int64_t cols);
// out[j] += sum_i a[i, j] for a contiguous [rows, cols] matrix, in a fixed order (deterministic). `partials` holds
// column_sum_chunks(rows, cols) * cols elements of the compute type (f64 for f64, else f32), or is null when
// there is one chunk.
void add_column_sums(DType dt, const void* a, int64_t rows, int64_t cols, void* out, void* partials, int device);

}  // namespace fer::cuda
