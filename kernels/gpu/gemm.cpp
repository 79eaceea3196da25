// Tensor-level CUDA matrix products: unpack the tensors and call the cuBLAS launchers (kernels/cuda/gemm.cu).
#include "fer/backend/cuda/gemm.hpp"

#include "kernels/cuda/gemm_launch.hpp"
#include "kernels/gpu/tensor_checks.hpp"

namespace fer::gpu {

namespace {

DType compute_dtype(DType dt) { return dt == DType::f64 ? DType::f64 : DType::f32; }

}  // namespace

void set_allow_tf32(bool on) { cuda::set_allow_tf32(on); }
bool allow_tf32() { return cuda::allow_tf32(); }

void add_column_sums(const Tensor& a, int64_t rows, int64_t cols, const Tensor& gb) {
  cuda_device_of("column sums", {&a, &gb}, /*same_dtype=*/true);
  FER_CHECK(a.numel() == rows * cols && gb.numel() == cols, "column sums: ", a.str(), " as [", rows, ", ", cols,
            "] into ", gb.str());
  const int dev = a.device().index;
  const int64_t chunks = cuda::column_sum_chunks(rows, cols);
  Tensor partials = chunks > 1 ? Tensor::empty({chunks * cols}, compute_dtype(a.dtype()), a.device()) : Tensor();
  cuda::add_column_sums(a.dtype(), a.raw_data(), rows, cols, gb.raw_data(),
                        partials.defined() ? partials.raw_data() : nullptr, dev);
}

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y) {
  cuda_device_of("linear", {&x, &w, &bias, &y}, /*same_dtype=*/true);
  const int64_t m = x.size(0), in = x.size(1), out = w.size(0);
  const int dev = x.device().index;
  // y = bias rows, then y += x w^T (one rounding of bias + product for the 16-bit types).
  if (bias.defined()) cuda::fill_rows(x.dtype(), bias.raw_data(), m, out, y.raw_data(), dev);
  cuda::gemm(x.dtype(), false, true, m, out, in, x.raw_data(), in, 0, w.raw_data(), in, 0, y.raw_data(), out, 0, 1,
             bias.defined(), dev);
}

void linear_backward(const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                     const Tensor& gb) {
  cuda_device_of("linear backward", {&x, &w, &gy, &gx, &gw, &gb}, /*same_dtype=*/true);
  const int64_t m = x.size(0), in = x.size(1), out = w.size(0);
  const int dev = x.device().index;
  const DType dt = x.dtype();
  if (gx.defined())  // gx[m, in] += gy[m, out] w[out, in]
    cuda::gemm(dt, false, false, m, in, out, gy.raw_data(), out, 0, w.raw_data(), in, 0, gx.raw_data(), in, 0, 1, true, dev);
  if (gw.defined())  // gw[out, in] += gy^T x
    cuda::gemm(dt, true, false, out, in, m, gy.raw_data(), out, 0, x.raw_data(), in, 0, gw.raw_data(), in, 0, 1, true, dev);
  if (gb.defined()) add_column_sums(gy, m, out, gb);
}

void matmul_into(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, const Tensor& c, bool accumulate) {
  cuda_device_of("matmul", {&a, &b, &c}, /*same_dtype=*/true);
  const bool batched = a.dim() == 3;
  const int64_t batch = batched ? a.size(0) : 1;
  const int64_t ar = a.size(-2), ac = a.size(-1), br = b.size(-2), bc = b.size(-1);
  const int64_t m = trans_a ? ac : ar, k = trans_a ? ar : ac, n = trans_b ? br : bc;
  FER_CHECK((trans_b ? bc : br) == k, "matmul: inner dimensions differ: ", a.shape().str(), " x ", b.shape().str());
  FER_CHECK(c.numel() == batch * m * n, "matmul: output ", c.shape().str(), " for [", batch, ", ", m, ", ", n, "]");
  cuda::gemm(a.dtype(), trans_a, trans_b, m, n, k, a.raw_data(), ac, ar * ac, b.raw_data(), bc, br * bc, c.raw_data(),
             n, m * n, batch, accumulate, a.device().index);
}

}  // namespace fer::gpu
