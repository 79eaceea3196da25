#pragma once
// A dense row-major matrix of doubles: the analysis code's data (features [N, D], embeddings [N, 2]). Kept free of
// Eigen so that only the compiled units that need linear algebra include it.
#include <cstdint>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/core/tensor.hpp"

namespace fer::analysis {

// A contiguous host copy of `t` in `dtype` (the analysis code reads activations and gradients element by element).
inline Tensor host_copy(const Tensor& t, DType dtype) {
  Tensor h = t.detach().to(Device::cpu());
  if (!h.is_contiguous()) h = h.clone();
  return h.dtype() == dtype ? h : h.to(dtype);
}

struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;  // row-major

  Matrix() = default;
  Matrix(int64_t r, int64_t c, double fill = 0.0) : rows(r), cols(c), values(size_t(r * c), fill) {
    FER_CHECK(r >= 0 && c >= 0, "Matrix: negative size ", r, "x", c);
  }
  double& operator()(int64_t i, int64_t j) { return values[size_t(i * cols + j)]; }
  double operator()(int64_t i, int64_t j) const { return values[size_t(i * cols + j)]; }
  const double* row(int64_t i) const { return values.data() + i * cols; }
  double* row(int64_t i) { return values.data() + i * cols; }

  // A 2-d tensor [N, D] (any floating dtype and device).
  static Matrix from_tensor(const Tensor& t) {
    FER_CHECK(t.defined() && t.dim() == 2, "Matrix::from_tensor: expected a 2-d tensor");
    Matrix m(t.size(0), t.size(1));
    m.values = t.to_vector();
    return m;
  }
  Tensor to_tensor(DType dtype = DType::f32) const { return Tensor::from_vector<double>(values, {rows, cols}).to(dtype); }
  // The rows whose index is in `keep`, in that order.
  Matrix select_rows(const std::vector<int64_t>& keep) const {
    Matrix m(int64_t(keep.size()), cols);
    for (size_t i = 0; i < keep.size(); ++i) {
      FER_CHECK(keep[i] >= 0 && keep[i] < rows, "Matrix::select_rows: row ", keep[i], " out of range");
      std::copy(row(keep[i]), row(keep[i]) + cols, m.row(int64_t(i)));
    }
    return m;
  }
};

}  // namespace fer::analysis
