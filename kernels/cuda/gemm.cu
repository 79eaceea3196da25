// CUDA matrix products (the gemm contract's CUDA side): cuBLAS GEMMs on row-major operands and the small kernels
// beside them.
//
// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major matrix read as column-major is
// its transpose: so cuBLAS gets B first, then A, with m and n swapped and the same transpose flags.
#include <cublas_v2.h>

#include <atomic>
#include <climits>

#include "fer/kernels/gemm.hpp"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ref_checks.hpp"
#include "kernels/cuda/scratch.hpp"

namespace fer::cuda {

namespace {

std::atomic<bool> g_allow_tf32{false};

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS error in ", what, ": ", cublasGetStatusString(s));
}

int as_int(int64_t v, const char* what) {
  FER_CHECK(v >= 0 && v <= INT_MAX, "gemm: ", what, " = ", v, " does not fit cuBLAS's int");
  return int(v);
}

// C[i] = 0 for the m x n items of a strided batch (k == 0 without accumulate; cuBLAS is not asked).
template <class T>
__global__ void zero_items(T* c, int64_t m, int64_t n, int64_t ldc, int64_t stride_c, int64_t batch) {
  const int64_t total = batch * m * n;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t col = i % n, r = i / n, row = r % m, item = r / m;
    c[item * stride_c + row * ldc + col] = T(0);
  }
}

template <class T>
__global__ void fill_rows_kernel(const T* row, int64_t rows, int64_t cols, T* out) {
  const int64_t total = rows * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = row[i % cols];
}

// One thread per (chunk, column): sums its rows of the chunk (adjacent threads read adjacent columns). With one
// chunk it adds straight into out, else it writes its partial sum.
template <class T>
__global__ void column_sums_pass1(const T* a, int64_t rows, int64_t cols, int64_t chunks, T* out,
                                  typename Compute<T>::type* partials) {
  using C = typename Compute<T>::type;
  const int64_t total = chunks * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % cols, chunk = i / cols;
    const int64_t r0 = rows * chunk / chunks, r1 = rows * (chunk + 1) / chunks;
    C s = 0;
    for (int64_t r = r0; r < r1; ++r) s += load(a, r * cols + j);
    if (chunks == 1) store(out, j, load(out, j) + s);
    else partials[i] = s;
  }
}

// out[j] += the chunks' partial sums of column j, in chunk order.
template <class T>
__global__ void column_sums_pass2(const typename Compute<T>::type* partials, int64_t cols, int64_t chunks, T* out) {
  using C = typename Compute<T>::type;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < cols; j += int64_t(gridDim.x) * blockDim.x) {
    C s = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) s += partials[ch * cols + j];
    store(out, j, load(out, j) + s);
  }
}

// For each of `batch` items: C[m, n] (+)= op(A) op(B), row-major, op(A) [m, k] (A stored [k, m] when trans_a),
// op(B) [k, n] (B stored [n, k] when trans_b); item i starts at a + i * stride_a (elements), and so on.
// f32/f64 compute in their own precision, f16/bf16 in f32. Without `accumulate` C is never read.
void gemm(DType dt, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda,
          int64_t stride_a, const void* b, int64_t ldb, int64_t stride_b, void* c, int64_t ldc, int64_t stride_c,
          int64_t batch, bool accumulate, int device) {
  if (m == 0 || n == 0 || batch == 0) return;
  FER_CHECK(cudaSetDevice(device) == cudaSuccess, "gemm: cudaSetDevice(", device, ") failed");
  if (k == 0) {  // the product is empty: C = 0, or unchanged when accumulating
    if (!accumulate) {
      FER_CUDA_FLOAT_SWITCH(dt, "gemm", {
        zero_items<scalar_t><<<blocks_for(batch * m * n), kThreads, 0, current_stream(device)>>>(
            static_cast<scalar_t*>(c), m, n, ldc, stride_c, batch);
      });
      check_launch("gemm zero_items");
    }
    return;
  }
  auto h = static_cast<cublasHandle_t>(cublas_handle(device));
  // The compute type says the precision; the handle's math mode is reset so another user's setting cannot add TF32.
  check_cublas(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  cudaDataType_t type;
  cublasComputeType_t compute;
  switch (dt) {
    case DType::f32: type = CUDA_R_32F, compute = kernels::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F; break;
    case DType::f64: type = CUDA_R_64F, compute = CUBLAS_COMPUTE_64F; break;
    case DType::f16: type = CUDA_R_16F, compute = CUBLAS_COMPUTE_32F; break;
    case DType::bf16: type = CUDA_R_16BF, compute = CUBLAS_COMPUTE_32F; break;
    default: fail("gemm: no CUDA kernel for dtype ", dtype_name(dt));
  }
  const double alpha_d = 1.0, beta_d = accumulate ? 1.0 : 0.0;
  const float alpha_f = 1.0f, beta_f = accumulate ? 1.0f : 0.0f;
  const void* alpha = dt == DType::f64 ? static_cast<const void*>(&alpha_d) : static_cast<const void*>(&alpha_f);
  const void* beta = dt == DType::f64 ? static_cast<const void*>(&beta_d) : static_cast<const void*>(&beta_f);
  // Swapped operands (see the top of this file): cuBLAS's A is our B.
  check_cublas(cublasGemmStridedBatchedEx(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                          as_int(n, "n"), as_int(m, "m"), as_int(k, "k"), alpha, b, type,
                                          as_int(ldb, "ldb"), stride_b, a, type, as_int(lda, "lda"), stride_a, beta, c,
                                          type, as_int(ldc, "ldc"), stride_c, as_int(batch, "batch"), compute,
                                          CUBLAS_GEMM_DEFAULT),
               "cublasGemmStridedBatchedEx");
}

// out[r, :] = row[:] for a contiguous [rows, cols] matrix.
void fill_rows(DType dt, const void* row, int64_t rows, int64_t cols, void* out, int device) {
  if (rows == 0 || cols == 0) return;
  FER_CUDA_FLOAT_SWITCH(dt, "fill_rows", {
    fill_rows_kernel<scalar_t><<<blocks_for(rows * cols), kThreads, 0, current_stream(device)>>>(
        static_cast<const scalar_t*>(row), rows, cols, static_cast<scalar_t*>(out));
  });
  check_launch("fill_rows");
}

// Row chunks of the column sums below; more than one needs a partials buffer.
int64_t column_sum_chunks(int64_t rows, int64_t cols) {
  // Enough (chunk, column) threads to fill the GPU, at least 32 rows a chunk, at most 1024 chunks.
  const int64_t want = (int64_t(1) << 16) / (cols > 0 ? cols : 1);
  const int64_t most = (rows + 31) / 32;
  int64_t chunks = want < most ? want : most;
  if (chunks > 1024) chunks = 1024;
  return chunks < 1 ? 1 : chunks;
}

// out[j] += sum_i a[i, j] for a contiguous [rows, cols] matrix, in a fixed order (deterministic). `partials` holds
// column_sum_chunks(rows, cols) * cols elements of the compute type (f64 for f64, else f32), or is null when
// there is one chunk.
void add_column_sums(DType dt, const void* a, int64_t rows, int64_t cols, void* out, void* partials, int device) {
  if (rows == 0 || cols == 0) return;
  const int64_t chunks = column_sum_chunks(rows, cols);
  FER_CHECK(chunks == 1 || partials, "add_column_sums: ", chunks, " chunks need a partials buffer");
  FER_CUDA_FLOAT_SWITCH(dt, "add_column_sums", {
    using C = typename Compute<scalar_t>::type;
    column_sums_pass1<scalar_t><<<blocks_for(chunks * cols), kThreads, 0, current_stream(device)>>>(
        static_cast<const scalar_t*>(a), rows, cols, chunks, static_cast<scalar_t*>(out), static_cast<C*>(partials));
    check_launch("column_sums_pass1");
    if (chunks > 1) {
      column_sums_pass2<scalar_t><<<blocks_for(cols), kThreads, 0, current_stream(device)>>>(
          static_cast<const C*>(partials), cols, chunks, static_cast<scalar_t*>(out));
      check_launch("column_sums_pass2");
    }
  });
}

size_t compute_bytes(DType dt) { return dt == DType::f64 ? sizeof(double) : sizeof(float); }

void column_sums(const kernels::TensorRef& a, int64_t rows, int64_t cols, const kernels::TensorRef& gb, int dev) {
  const int64_t chunks = column_sum_chunks(rows, cols);
  DeviceScratch partials = chunks > 1 ? DeviceScratch(size_t(chunks * cols) * compute_bytes(a.dtype()), dev)
                                      : DeviceScratch();
  add_column_sums(a.dtype(), a.raw_data(), rows, cols, gb.raw_data(), partials.get(), dev);
}

}  // namespace

}  // namespace fer::cuda

namespace fer::kernels {

using cuda::cuda_device_of;

void set_allow_tf32(bool on) { cuda::g_allow_tf32.store(on); }
bool allow_tf32() { return cuda::g_allow_tf32.load(); }

void add_column_sums_cuda(const ColumnSumArgs& args) {
  const TensorRef &a = args.a, &gb = args.out;
  const int dev = cuda_device_of("column sums", {&a, &gb}, /*same_dtype=*/true);
  FER_CHECK(a.numel() == args.rows * args.cols && gb.numel() == args.cols, "column sums: ", a.shape().str(), " as [",
            args.rows, ", ", args.cols, "] into ", gb.shape().str());
  cuda::column_sums(a, args.rows, args.cols, gb, dev);
}

void fill_rows_cuda(const FillRowsArgs& args) {
  const int dev = cuda_device_of("fill_rows", {&args.row, &args.out}, /*same_dtype=*/true);
  FER_CHECK(args.row.numel() == args.cols && args.out.numel() == args.rows * args.cols, "fill_rows: ",
            args.row.shape().str(), " into ", args.out.shape().str(), " as [", args.rows, ", ", args.cols, "]");
  cuda::fill_rows(args.out.dtype(), args.row.raw_data(), args.rows, args.cols, args.out.raw_data(), dev);
}

void linear_forward_cuda(const LinearArgs& args) {
  const TensorRef &x = args.x, &w = args.w, &bias = args.bias, &y = args.y;
  const int dev = cuda_device_of("linear", {&x, &w, &bias, &y}, /*same_dtype=*/true);
  const int64_t m = x.size(0), in = x.size(1), out = w.size(0);
  // y = bias rows, then y += x w^T (one rounding of bias + product for the 16-bit types).
  if (bias.defined()) cuda::fill_rows(x.dtype(), bias.raw_data(), m, out, y.raw_data(), dev);
  cuda::gemm(x.dtype(), false, true, m, out, in, x.raw_data(), in, 0, w.raw_data(), in, 0, y.raw_data(), out, 0, 1,
             bias.defined(), dev);
}

void linear_backward_cuda(const LinearBackwardArgs& args) {
  const TensorRef &x = args.x, &w = args.w, &gy = args.gy, &gx = args.gx, &gw = args.gw, &gb = args.gb;
  const int dev = cuda_device_of("linear backward", {&x, &w, &gy, &gx, &gw, &gb}, /*same_dtype=*/true);
  const int64_t m = x.size(0), in = x.size(1), out = w.size(0);
  const DType dt = x.dtype();
  if (gx.defined())  // gx[m, in] (+)= gy[m, out] w[out, in]
    cuda::gemm(dt, false, false, m, in, out, gy.raw_data(), out, 0, w.raw_data(), in, 0, gx.raw_data(), in, 0, 1,
               args.accumulate_gx, dev);
  if (gw.defined())  // gw[out, in] += gy^T x
    cuda::gemm(dt, true, false, out, in, m, gy.raw_data(), out, 0, x.raw_data(), in, 0, gw.raw_data(), in, 0, 1, true,
               dev);
  if (gb.defined()) cuda::column_sums(gy, m, out, gb, dev);
}

void matmul_into_cuda(const MatmulArgs& args) {
  const TensorRef &a = args.a, &b = args.b, &c = args.c;
  const bool trans_a = args.trans_a, trans_b = args.trans_b;
  const int dev = cuda_device_of("matmul", {&a, &b, &c}, /*same_dtype=*/true);
  const bool batched = a.dim() == 3;
  const int64_t batch = batched ? a.size(0) : 1;
  const int64_t ar = a.size(-2), ac = a.size(-1), br = b.size(-2), bc = b.size(-1);
  const int64_t m = trans_a ? ac : ar, k = trans_a ? ar : ac, n = trans_b ? br : bc;
  FER_CHECK((trans_b ? bc : br) == k, "matmul: inner dimensions differ: ", a.shape().str(), " x ", b.shape().str());
  FER_CHECK(c.numel() == batch * m * n, "matmul: output ", c.shape().str(), " for [", batch, ", ", m, ", ", n, "]");
  cuda::gemm(a.dtype(), trans_a, trans_b, m, n, k, a.raw_data(), ac, ar * ac, b.raw_data(), bc, br * bc, c.raw_data(),
             n, m * n, batch, args.accumulate, dev);
}

}  // namespace fer::kernels
