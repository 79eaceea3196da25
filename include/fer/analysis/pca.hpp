#pragma once
// Principal component analysis of the centred data X - mean = U S V^T, computed as the eigen-decomposition of
// (X - mean)^T (X - mean) = V S^2 V^T (Eigen's SelfAdjointEigenSolver, in kernels/cpu/analysis_linalg.cpp):
// components are the rows of V^T, explained variance S^2 / (N - 1) (scikit-learn's PCA), projections (X - mean) V. Sign convention: each component's loading of largest magnitude is positive (the
// first such loading on a tie), so the result does not depend on the order of the samples. scikit-learn flips by U
// instead; projections agree up to the sign of each component.
#include <vector>

#include "fer/analysis/matrix.hpp"

namespace fer::analysis {

struct Pca {
  std::vector<double> mean;                      // [D]
  Matrix components;                             // [k, D]
  std::vector<double> explained_variance;        // [k]
  std::vector<double> explained_variance_ratio;  // [k], of the total variance over all D directions

  // (x - mean) components^T: [N, k].
  Matrix transform(const Matrix& x) const;
};

// The first `k` principal components of `x` [N, D] (1 <= k <= min(N, D); N >= 2).
Pca fit_pca(const Matrix& x, int64_t k);

}  // namespace fer::analysis
