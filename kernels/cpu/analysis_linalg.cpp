// The analysis code's linear algebra on Eigen: PCA (eigen-decomposition of the centred data's scatter matrix), the
// Frechet distance of two feature sets (symmetric eigen-decompositions) and the logistic-regression probe (Newton's
// method). Declared in fer/analysis/pca.hpp and fer/analysis/domain_gap.hpp.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "fer/analysis/domain_gap.hpp"
#include "fer/analysis/pca.hpp"

namespace fer::analysis {

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::Map<const RowMatrix> view(const Matrix& m) { return {m.values.data(), m.rows, m.cols}; }

Matrix from_eigen(const Eigen::MatrixXd& e) {
  Matrix m(e.rows(), e.cols());
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) m(i, j) = e(i, j);
  return m;
}

// Unbiased covariance (N - 1) and mean of the rows.
Eigen::MatrixXd covariance(const Matrix& x, Eigen::VectorXd& mean) {
  FER_CHECK(x.rows >= 2, "covariance: needs at least 2 samples, got ", x.rows);
  auto v = view(x);
  mean = v.colwise().mean().transpose();
  Eigen::MatrixXd centred = v.rowwise() - mean.transpose();
  return centred.transpose() * centred / double(x.rows - 1);
}

// The symmetric positive semi-definite square root (negative eigenvalues from rounding are clamped to zero).
Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& s) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(s);
  FER_CHECK(eig.info() == Eigen::Success, "matrix square root: the eigen-decomposition did not converge");
  Eigen::VectorXd r = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return eig.eigenvectors() * r.asDiagonal() * eig.eigenvectors().transpose();
}

double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z)); }
double log1p_exp(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

}  // namespace

// ---------------------------------------------------------------- PCA

Pca fit_pca(const Matrix& x, int64_t k) {
  FER_CHECK(x.rows >= 2, "PCA: needs at least 2 samples, got ", x.rows);
  FER_CHECK(k >= 1 && k <= std::min(x.rows, x.cols), "PCA: ", k, " components of ", x.rows, "x", x.cols, " data");
  auto v = view(x);
  Eigen::VectorXd mean = v.colwise().mean().transpose();
  Eigen::MatrixXd centred = v.rowwise() - mean.transpose();
  // The right singular vectors of the centred data are the eigenvectors of its scatter matrix, and the squared
  // singular values its eigenvalues: one symmetric eigensolver (the one the Frechet distance needs anyway) instead
  // of an SVD (BDCSVD), whose instantiation cost this file a third of its compile time (58 -> 38 CPU-s).
  const Eigen::MatrixXd scatter = centred.transpose() * centred;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(scatter);
  FER_CHECK(eig.info() == Eigen::Success, "PCA: the eigen-decomposition did not converge");
  // Eigenvalues come in increasing order: the components are the last k, largest first.
  Eigen::MatrixXd vt = eig.eigenvectors().rightCols(k).rowwise().reverse().transpose();  // [k, D]
  Eigen::VectorXd sq = eig.eigenvalues().tail(k).reverse().cwiseMax(0.0);                 // squared singular values
  for (int64_t c = 0; c < k; ++c) {
    Eigen::Index at = 0;
    vt.row(c).cwiseAbs().maxCoeff(&at);
    if (vt(c, at) < 0) vt.row(c) *= -1.0;
  }
  double total = scatter.trace() / double(x.rows - 1);
  Pca p;
  p.mean.assign(mean.data(), mean.data() + mean.size());
  p.components = from_eigen(vt);
  for (int64_t c = 0; c < k; ++c) {
    double var = sq(c) / double(x.rows - 1);
    p.explained_variance.push_back(var);
    p.explained_variance_ratio.push_back(total > 0 ? var / total : 0.0);
  }
  return p;
}

Matrix Pca::transform(const Matrix& x) const {
  FER_CHECK(x.cols == int64_t(mean.size()), "PCA transform: ", x.cols, " features, the fit had ", mean.size());
  Eigen::Map<const Eigen::RowVectorXd> mu(mean.data(), int64_t(mean.size()));
  Eigen::MatrixXd centred = view(x).rowwise() - mu;
  return from_eigen(centred * view(components).transpose());
}

// ---------------------------------------------------------------- Frechet distance

double frechet_distance(const Matrix& a, const Matrix& b) {
  FER_CHECK(a.cols == b.cols, "Frechet distance: ", a.cols, " vs ", b.cols, " features");
  Eigen::VectorXd mu1, mu2;
  Eigen::MatrixXd s1 = covariance(a, mu1), s2 = covariance(b, mu2);
  Eigen::MatrixXd r1 = sqrt_psd(s1);
  Eigen::MatrixXd m = r1 * s2 * r1;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(0.5 * (m + m.transpose()), Eigen::EigenvaluesOnly);
  FER_CHECK(eig.info() == Eigen::Success, "Frechet distance: the eigen-decomposition did not converge");
  double tr_sqrt = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * tr_sqrt;
}

// ---------------------------------------------------------------- linear probe

Standardizer Standardizer::fit(const Matrix& x) {
  FER_CHECK(x.rows >= 1, "Standardizer: no samples");
  auto v = view(x);
  Standardizer s;
  Eigen::VectorXd mean = v.colwise().mean().transpose();
  Eigen::VectorXd var = (v.rowwise() - mean.transpose()).colwise().squaredNorm().transpose() / double(x.rows);
  s.mean.assign(mean.data(), mean.data() + mean.size());
  for (int64_t j = 0; j < x.cols; ++j) {
    double sd = std::sqrt(var(j));
    s.scale.push_back(sd < 10 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(mean(j))) ? 1.0 : sd);
  }
  return s;
}

Matrix Standardizer::apply(const Matrix& x) const {
  FER_CHECK(x.cols == int64_t(mean.size()), "Standardizer: ", x.cols, " features, fitted on ", mean.size());
  Matrix out = x;
  for (int64_t i = 0; i < x.rows; ++i)
    for (int64_t j = 0; j < x.cols; ++j) out(i, j) = (x(i, j) - mean[size_t(j)]) / scale[size_t(j)];
  return out;
}

LogisticRegression LogisticRegression::fit(const Matrix& x, const std::vector<int>& y, double c) {
  FER_CHECK(int64_t(y.size()) == x.rows, "logistic regression: ", y.size(), " labels for ", x.rows, " samples");
  FER_CHECK(c > 0, "logistic regression: C must be positive");
  const int64_t n = x.rows, d = x.cols;
  Eigen::MatrixXd xa(n, d + 1);  // features and a column of ones (the intercept)
  xa.leftCols(d) = view(x);
  xa.col(d).setOnes();
  Eigen::VectorXd t(n);
  for (int64_t i = 0; i < n; ++i) {
    FER_CHECK(y[size_t(i)] == 0 || y[size_t(i)] == 1, "logistic regression: labels must be 0 or 1");
    t(i) = y[size_t(i)];
  }
  Eigen::VectorXd penalty = Eigen::VectorXd::Ones(d + 1);
  penalty(d) = 0.0;
  auto objective = [&](const Eigen::VectorXd& w) {
    Eigen::VectorXd z = xa * w;
    double loss = 0;
    for (int64_t i = 0; i < n; ++i) loss += log1p_exp(z(i)) - t(i) * z(i);
    return c * loss + 0.5 * w.cwiseProduct(penalty).squaredNorm();
  };
  Eigen::VectorXd w = Eigen::VectorXd::Zero(d + 1);
  double f = objective(w);
  for (int iter = 0; iter < 200; ++iter) {
    Eigen::VectorXd z = xa * w, p(n), h(n);
    for (int64_t i = 0; i < n; ++i) p(i) = sigmoid(z(i)), h(i) = p(i) * (1 - p(i));
    Eigen::VectorXd grad = c * xa.transpose() * (p - t) + w.cwiseProduct(penalty);
    Eigen::MatrixXd hess = c * xa.transpose() * h.asDiagonal() * xa;
    hess.diagonal() += penalty;
    hess(d, d) += 1e-12;  // keeps the system definite when every sample has the same prediction
    Eigen::VectorXd step = hess.ldlt().solve(grad);
    double scale = 1.0, next = objective(w - step);
    while (next > f && scale > 1e-10) scale *= 0.5, next = objective(w - scale * step);  // backtracking
    w -= scale * step;
    bool done = std::abs(f - next) <= 1e-15 * std::max(1.0, std::abs(f)) || (scale * step).norm() <= 1e-12 * (1 + w.norm());
    f = next;
    if (done) break;
  }
  LogisticRegression m;
  m.weights.assign(w.data(), w.data() + d);
  m.bias = w(d);
  return m;
}

std::vector<double> LogisticRegression::decision(const Matrix& x) const {
  FER_CHECK(x.cols == int64_t(weights.size()), "logistic regression: ", x.cols, " features, fitted on ", weights.size());
  Eigen::Map<const Eigen::VectorXd> w(weights.data(), int64_t(weights.size()));
  Eigen::VectorXd z = (view(x) * w).array() + bias;
  return {z.data(), z.data() + z.size()};
}

std::vector<int> stratified_folds(const std::vector<int>& labels, int k) {
  FER_CHECK(k >= 2, "folds: k must be at least 2, got ", k);
  std::vector<int> fold(labels.size());
  std::vector<int64_t> seen;
  for (size_t i = 0; i < labels.size(); ++i) {
    FER_CHECK(labels[i] >= 0, "folds: negative label");
    if (size_t(labels[i]) >= seen.size()) seen.resize(size_t(labels[i]) + 1, 0);
    fold[i] = int(seen[size_t(labels[i])]++ % k);
  }
  return fold;
}

ProbeResult linear_probe(const Matrix& x, const std::vector<int>& labels, int k, double c) {
  FER_CHECK(int64_t(labels.size()) == x.rows, "linear probe: ", labels.size(), " labels for ", x.rows, " samples");
  int64_t ones = std::count(labels.begin(), labels.end(), 1), zeros = std::count(labels.begin(), labels.end(), 0);
  FER_CHECK(ones + zeros == x.rows, "linear probe: labels must be 0 or 1");
  FER_CHECK(std::min(ones, zeros) >= k, "linear probe: each side needs at least ", k, " samples (", zeros, " and ", ones,
            ")");
  std::vector<int> fold = stratified_folds(labels, k);
  ProbeResult r;
  int64_t right = 0;
  for (int f = 0; f < k; ++f) {
    std::vector<int64_t> train, test;
    std::vector<int> y_train;
    for (int64_t i = 0; i < x.rows; ++i) {
      if (fold[size_t(i)] == f) test.push_back(i);
      else train.push_back(i), y_train.push_back(labels[size_t(i)]);
    }
    Matrix xtr = x.select_rows(train);
    Standardizer s = Standardizer::fit(xtr);
    LogisticRegression m = LogisticRegression::fit(s.apply(xtr), y_train, c);
    std::vector<double> z = m.decision(s.apply(x.select_rows(test)));
    int64_t fold_right = 0;
    for (size_t i = 0; i < test.size(); ++i) fold_right += int(z[i] > 0) == labels[size_t(test[i])];
    r.fold_accuracy.push_back(double(fold_right) / double(test.size()));
    right += fold_right;
  }
  r.accuracy = double(right) / double(x.rows);
  r.chance = double(std::max(ones, zeros)) / double(x.rows);
  return r;
}

}  // namespace fer::analysis
