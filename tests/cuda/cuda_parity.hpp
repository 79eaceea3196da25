#pragma once
// Shared tools of the CUDA parity tests: random inputs made on the CPU and copied to the GPU, outputs poisoned with
// NaN before a kernel runs (an element the kernel forgets to write stays NaN and fails the comparison), and the
// relative L2 error against the CPU backend's result.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "fer/core/rng.hpp"
#include "fer/core/tensor.hpp"

namespace fer::cuda_test {

inline Device cuda0() { return Device::cuda(0); }  // not gpu(): that is the backend namespace

// Uniform values in [lo, hi) on the CPU, in `dtype` (converted from f64 draws).
inline Tensor random_cpu(const Shape& shape, Generator& g, double lo = -1.0, double hi = 1.0, DType dtype = DType::f32) {
  Tensor t = Tensor::empty(shape, DType::f64);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_flat(i, lo + (hi - lo) * g.uniform());
  return dtype == DType::f64 ? t : t.to(dtype);
}

// A device tensor of `shape` filled with NaN: what a kernel leaves unwritten shows up in the comparison.
inline Tensor poisoned(const Shape& shape, DType dtype = DType::f32, Device d = cuda0()) {
  return Tensor::full(shape, std::nan(""), dtype).to(d);
}

// sqrt(sum (a-b)^2) / max(sqrt(sum b^2), tiny), over CPU copies in f64; NaN anywhere gives +inf.
inline double rel_l2(const Tensor& a_in, const Tensor& b_in) {
  REQUIRE(a_in.shape() == b_in.shape());
  Tensor a = a_in.host().to(DType::f64), b = b_in.host().to(DType::f64);
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.flat(i), y = b.flat(i);
    if (!std::isfinite(x) || !std::isfinite(y)) {
      if (std::isnan(x) || std::isnan(y) || x != y) return INFINITY;
      continue;  // equal infinities
    }
    num += (x - y) * (x - y), den += y * y;
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// Stated tolerances: rel-L2 of a CUDA result against the CPU backend's.
constexpr double kTolF64 = 1e-12;   // same math, other summation order
constexpr double kTolF32 = 1e-5;    // pointwise and reductions in f32
constexpr double kTolTf32 = 5e-3;   // tensor-core GEMM/conv with TF32 inputs (10-bit mantissa)
constexpr double kTolBf16 = 2e-2;   // bf16 storage (8-bit mantissa), f32 accumulation
constexpr double kTolF16 = 4e-3;    // f16 storage (11-bit mantissa), f32 accumulation

}  // namespace fer::cuda_test
