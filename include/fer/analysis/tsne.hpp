#pragma once
// Exact t-SNE (van der Maaten & Hinton 2008) with scikit-learn's schedule, for up to a few thousand points (time and
// memory are O(N^2) per iteration):
//  - P: per point, a binary search over the Gaussian precision beta until the conditional distribution's perplexity
//    matches (entropy within 1e-5 nats, at most 100 steps, squared Euclidean distances rounded to float as
//    scikit-learn does), then P = (P_cond + P_cond^T) / sum, at least DBL_EPSILON;
//  - Q: Student-t with one degree of freedom in 2-D;
//  - gradient descent on KL(P || Q) with per-parameter gains (+0.2 / x0.8, at least 0.01), momentum 0.5 and P
//    exaggerated 12x for the first 250 iterations, then momentum 0.8 to 1000 iterations; learning rate
//    max(N / 12 / 4, 50) ("auto"); stops early when the gradient norm falls below 1e-7;
//  - initialization: the 2-D PCA projection scaled so that its first column has standard deviation 1e-4 (scikit-
//    learn's init="pca"), or with pca_init = false Gaussian noise of standard deviation 1e-4 from `seed`.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "fer/analysis/matrix.hpp"
#include "fer/analysis/pca.hpp"
#include "fer/core/parallel.hpp"
#include "fer/core/rng.hpp"

namespace fer::analysis {

struct TsneOptions {
  double perplexity = 30.0;
  int64_t iterations = 1000;
  int64_t exploration_iterations = 250;  // with early exaggeration
  double early_exaggeration = 12.0;
  double learning_rate = 0.0;  // <= 0: max(N / early_exaggeration / 4, 50)
  bool pca_init = true;
  uint64_t seed = 0;  // for the random initialization
};

// Symmetric joint probabilities [N, N] (row-major, zero diagonal) of the rows of `x` at the given perplexity.
inline std::vector<double> tsne_joint_probabilities(const Matrix& x, double perplexity) {
  const int64_t n = x.rows;
  FER_CHECK(n >= 2, "t-SNE: needs at least 2 points");
  FER_CHECK(perplexity > 0 && perplexity < double(n), "t-SNE: perplexity ", perplexity, " must be in (0, N = ", n, ")");
  std::vector<double> p(size_t(n * n), 0.0);
  const double target = std::log(perplexity);
  parallel_for(0, n, 8, [&](int64_t lo, int64_t hi) {
    std::vector<double> d(static_cast<size_t>(n)), row(static_cast<size_t>(n));
    for (int64_t i = lo; i < hi; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t c = 0; c < x.cols; ++c) {
          double diff = x(i, c) - x(j, c);
          s += diff * diff;
        }
        d[size_t(j)] = double(float(s));
      }
      double beta = 1.0, beta_min = -std::numeric_limits<double>::infinity(), beta_max = std::numeric_limits<double>::infinity();
      for (int step = 0; step < 100; ++step) {
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) sum += row[size_t(j)] = j == i ? 0.0 : std::exp(-d[size_t(j)] * beta);
        if (sum == 0) sum = 1e-8;
        double weighted = 0;
        for (int64_t j = 0; j < n; ++j) {
          row[size_t(j)] /= sum;
          weighted += d[size_t(j)] * row[size_t(j)];
        }
        double entropy = std::log(sum) + beta * weighted;
        double diff = entropy - target;
        if (std::abs(diff) <= 1e-5) break;
        if (diff > 0) {
          beta_min = beta;
          beta = std::isinf(beta_max) ? beta * 2.0 : (beta + beta_max) / 2.0;
        } else {
          beta_max = beta;
          beta = std::isinf(beta_min) ? beta / 2.0 : (beta + beta_min) / 2.0;
        }
      }
      std::copy(row.begin(), row.end(), p.begin() + i * n);
    }
  });
  double total = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      double s = p[size_t(i * n + j)] + p[size_t(j * n + i)];
      p[size_t(i * n + j)] = p[size_t(j * n + i)] = s;
      total += 2 * s;
    }
  total = std::max(total, std::numeric_limits<double>::epsilon());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      p[size_t(i * n + j)] = i == j ? 0.0 : std::max(p[size_t(i * n + j)] / total, std::numeric_limits<double>::epsilon());
  return p;
}

// The 2-D embedding [N, 2] of the rows of `x`.
inline Matrix tsne(const Matrix& x, const TsneOptions& o = {}) {
  const int64_t n = x.rows;
  FER_CHECK(n >= 4, "t-SNE: needs at least 4 points, got ", n);
  FER_CHECK(o.iterations >= o.exploration_iterations && o.exploration_iterations >= 0, "t-SNE: bad iteration counts");
  std::vector<double> p = tsne_joint_probabilities(x, o.perplexity);
  Matrix y(n, 2);
  if (o.pca_init) {
    y = fit_pca(x, std::min<int64_t>(2, x.cols)).transform(x);
    if (y.cols < 2) {
      Matrix padded(n, 2);
      for (int64_t i = 0; i < n; ++i) padded(i, 0) = y(i, 0);
      y = padded;
    }
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += y(i, 0) / double(n);
    for (int64_t i = 0; i < n; ++i) var += (y(i, 0) - mean) * (y(i, 0) - mean) / double(n);
    double scale = var > 0 ? 1e-4 / std::sqrt(var) : 1.0;
    for (double& v : y.values) v *= scale;
  } else {
    Generator gen(o.seed);
    for (double& v : y.values) v = 1e-4 * gen.normal();
  }
  const double rate = o.learning_rate > 0 ? o.learning_rate : std::max(double(n) / o.early_exaggeration / 4.0, 50.0);
  std::vector<double> update(size_t(2 * n), 0.0), gains(size_t(2 * n), 1.0), grad(size_t(2 * n));
  std::vector<double> num(size_t(n * n));
  for (int64_t it = 0; it < o.iterations; ++it) {
    const bool exploring = it < o.exploration_iterations;
    const double exaggeration = exploring ? o.early_exaggeration : 1.0, momentum = exploring ? 0.5 : 0.8;
    std::vector<double> row_sums(size_t(n), 0.0);
    parallel_for(0, n, 1024, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        double s = 0;
        for (int64_t j = 0; j < n; ++j) {
          double dx = y(i, 0) - y(j, 0), dy = y(i, 1) - y(j, 1);
          double q = j == i ? 0.0 : 1.0 / (1.0 + dx * dx + dy * dy);
          num[size_t(i * n + j)] = q;
          s += q;
        }
        row_sums[size_t(i)] = s;
      }
    });
    double sum_q = 0;
    for (double s : row_sums) sum_q += s;
    parallel_for(0, n, 1024, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        double gx = 0, gy = 0;
        for (int64_t j = 0; j < n; ++j) {
          if (j == i) continue;
          double q = std::max(num[size_t(i * n + j)] / sum_q, std::numeric_limits<double>::epsilon());
          double w = (exaggeration * p[size_t(i * n + j)] - q) * num[size_t(i * n + j)];
          gx += w * (y(i, 0) - y(j, 0)), gy += w * (y(i, 1) - y(j, 1));
        }
        grad[size_t(2 * i)] = 4.0 * gx, grad[size_t(2 * i + 1)] = 4.0 * gy;
      }
    });
    double norm = 0;
    for (size_t k = 0; k < grad.size(); ++k) {
      gains[k] = update[k] * grad[k] < 0.0 ? gains[k] + 0.2 : gains[k] * 0.8;
      gains[k] = std::max(gains[k], 0.01);
      grad[k] *= gains[k];
      norm += grad[k] * grad[k];
      update[k] = momentum * update[k] - rate * grad[k];
      y.values[k] += update[k];
    }
    if (std::sqrt(norm) <= 1e-7) break;
  }
  return y;
}

}  // namespace fer::analysis
