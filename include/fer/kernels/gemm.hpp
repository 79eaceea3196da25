#pragma once
// Kernel contract: matrix products (linear, matmul) and the row / column kernels around them (bias rows, bias
// gradients; conv2d uses them too). Defined by kernels/cpu/gemm.cpp (Eigen) and kernels/cuda/gemm.cu (cuBLAS); a
// build without CUDA links kernels/no_cuda/gemm.cpp. The CPU runs f32/f64, CUDA also f16/bf16 with f32 accumulation.
// Tensors contiguous, of one dtype, on one device; gradients accumulate (+=) into their buffers.
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// TF32 tensor-core math for CUDA f32 products and convolutions: off by default (exact f32, as PyTorch's matmul
// default); process-wide. Without CUDA allow_tf32() is false and set_allow_tf32 says there is no CUDA.
void set_allow_tf32(bool on);
bool allow_tf32();

// x [M, in], w [out, in], bias undefined or [out], y [M, out].
struct LinearArgs {
  TensorRef x, w, bias, y;
};

// y = x w^T + bias.
void linear_forward_cpu(const LinearArgs&);
void linear_forward_cuda(const LinearArgs&);
inline void linear_forward(const LinearArgs& a) { run_on(a.x, linear_forward_cpu, linear_forward_cuda, a); }

// x, w as in LinearArgs; gy [M, out]; gx, gw, gb: gradient buffers, undefined when not wanted.
// Without accumulate_gx, gx is written (=) and never read (a first writer of a recorded step,
// fer/autograd/written_grads.hpp).
struct LinearBackwardArgs {
  TensorRef x, w, gy, gx, gw, gb;
  bool accumulate_gx = true;
};

// gx (+)= gy w; gw += gy^T x; gb += column sums of gy.
void linear_backward_cpu(const LinearBackwardArgs&);
void linear_backward_cuda(const LinearBackwardArgs&);
inline void linear_backward(const LinearBackwardArgs& a) { run_on(a.x, linear_backward_cpu, linear_backward_cuda, a); }

// [M, K] x [K, N] -> c [M, N], or batched [B, M, K] x [B, K, N] -> c [B, M, N] (shapes as stored; trans_a / trans_b
// transpose the last two dims of that operand).
struct MatmulArgs {
  TensorRef a;
  bool trans_a = false;
  TensorRef b;
  bool trans_b = false;
  TensorRef c;
  bool accumulate = false;
};

// c (+)= op(a) op(b); without `accumulate` c is never read.
void matmul_into_cpu(const MatmulArgs&);
void matmul_into_cuda(const MatmulArgs&);
inline void matmul_into(const MatmulArgs& a) { run_on(a.a, matmul_into_cpu, matmul_into_cuda, a); }

// a holds rows * cols elements, read as [rows, cols]; out [cols].
struct ColumnSumArgs {
  TensorRef a, out;
  int64_t rows = 0, cols = 0;
};

// out[j] += sum_i a[i, j], in a fixed order (deterministic).
void add_column_sums_cpu(const ColumnSumArgs&);
void add_column_sums_cuda(const ColumnSumArgs&);
inline void add_column_sums(const ColumnSumArgs& a) { run_on(a.a, add_column_sums_cpu, add_column_sums_cuda, a); }

// row [cols]; out holds rows * cols elements, read as [rows, cols].
struct FillRowsArgs {
  TensorRef row, out;
  int64_t rows = 0, cols = 0;
};

// out[r, :] = row for every r (a bias broadcast before a product is added onto it).
void fill_rows_cpu(const FillRowsArgs&);
void fill_rows_cuda(const FillRowsArgs&);
inline void fill_rows(const FillRowsArgs& a) { run_on(a.row, fill_rows_cpu, fill_rows_cuda, a); }

}  // namespace fer::kernels
