#pragma once
// How far apart two feature sets (real and synthetic faces' penultimate features) are:
//  - the Frechet distance of Gaussians fitted to each, |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) with unbiased
//    covariances (N - 1). tr (S1 S2)^(1/2) is computed from the symmetric form S1^(1/2) S2 S1^(1/2), which has the
//    same eigenvalues as S1 S2, by two symmetric eigen-decompositions (Eigen) -- no non-symmetric square root;
//  - the accuracy of a linear probe telling them apart: L2-regularized logistic regression (scikit-learn's
//    objective C * sum log-loss + |w|^2 / 2, intercept not penalized, C = 1, solved by Newton's method) on features
//    standardized with the training part's mean and (population) standard deviation, k-fold: sample i is in fold
//    (its index among the samples of its class) mod k, so every fold holds each domain in proportion and the split is
//    reproducible without a random stream. Chance level is the larger domain's share.
// Implemented in kernels/cpu/analysis_linalg.cpp (Eigen stays out of this header).
#include <cstdint>
#include <vector>

#include "fer/analysis/matrix.hpp"

namespace fer::analysis {

double frechet_distance(const Matrix& a, const Matrix& b);

// Column means and population standard deviations of the rows `fit` was given; a constant column scales by 1
// (scikit-learn's StandardScaler).
struct Standardizer {
  std::vector<double> mean, scale;
  static Standardizer fit(const Matrix& x);
  Matrix apply(const Matrix& x) const;
};

// Binary logistic regression: P(y = 1 | x) = sigmoid(w . x + b).
struct LogisticRegression {
  std::vector<double> weights;
  double bias = 0;
  static LogisticRegression fit(const Matrix& x, const std::vector<int>& y, double c = 1.0);
  std::vector<double> decision(const Matrix& x) const;
};

// Fold of each sample: (its index among the samples with the same label) mod k.
std::vector<int> stratified_folds(const std::vector<int>& labels, int k);

struct ProbeResult {
  std::vector<double> fold_accuracy;
  double accuracy = 0;  // over all held-out predictions (every sample once)
  double chance = 0;    // the larger class's share
};
// k-fold accuracy of the linear probe separating labels 0 and 1.
ProbeResult linear_probe(const Matrix& x, const std::vector<int>& labels, int k = 5, double c = 1.0);

}  // namespace fer::analysis
