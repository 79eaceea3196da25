#pragma once
// Trustworthiness of an embedding (Venna & Kaski; scikit-learn's sklearn.manifold.trustworthiness): how far each
// point's k nearest neighbours in the embedding are from being its nearest neighbours in the input space,
//   T(k) = 1 - 2 / (N k (2N - 3k - 1)) * sum_i sum_{j in NN_k^emb(i)} max(0, r(i, j) - k),
// where r(i, j) is the rank of j among i's neighbours by input-space Euclidean distance (1 = nearest). Ties are
// broken by index.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "fer/analysis/matrix.hpp"
#include "fer/core/parallel.hpp"

namespace fer::analysis {

namespace trust_detail {

inline double squared_distance(const Matrix& m, int64_t i, int64_t j) {
  double s = 0;
  for (int64_t c = 0; c < m.cols; ++c) {
    double d = m(i, c) - m(j, c);
    s += d * d;
  }
  return s;
}

// The other points ordered by distance to i (ties by index); only the first `keep` are sorted.
inline std::vector<int64_t> neighbours(const Matrix& m, int64_t i, int64_t keep) {
  std::vector<double> d(size_t(m.rows));
  for (int64_t j = 0; j < m.rows; ++j) d[size_t(j)] = squared_distance(m, i, j);
  std::vector<int64_t> order;
  order.reserve(size_t(m.rows - 1));
  for (int64_t j = 0; j < m.rows; ++j)
    if (j != i) order.push_back(j);
  auto closer = [&](int64_t a, int64_t b) { return d[size_t(a)] < d[size_t(b)] || (d[size_t(a)] == d[size_t(b)] && a < b); };
  std::partial_sort(order.begin(), order.begin() + std::min<int64_t>(keep, int64_t(order.size())), order.end(), closer);
  return order;
}

}  // namespace trust_detail

// `input` [N, D] and its embedding [N, d]; 1 <= k < N / 2 (scikit-learn's limit).
inline double trustworthiness(const Matrix& input, const Matrix& embedded, int64_t k = 5) {
  const int64_t n = input.rows;
  FER_CHECK(embedded.rows == n, "trustworthiness: ", n, " inputs but ", embedded.rows, " embedded points");
  FER_CHECK(k >= 1 && double(k) < double(n) / 2, "trustworthiness: n_neighbors ", k, " must be in [1, N/2) for N = ", n);
  std::vector<double> penalty(size_t(n), 0.0);
  parallel_for(0, n, 16, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> rank(static_cast<size_t>(n));
    for (int64_t i = lo; i < hi; ++i) {
      std::vector<int64_t> by_input = trust_detail::neighbours(input, i, n - 1);
      for (size_t r = 0; r < by_input.size(); ++r) rank[size_t(by_input[r])] = int64_t(r) + 1;
      std::vector<int64_t> by_embedding = trust_detail::neighbours(embedded, i, k);
      for (int64_t j = 0; j < k; ++j) penalty[size_t(i)] += double(std::max<int64_t>(0, rank[size_t(by_embedding[size_t(j)])] - k));
    }
  });
  double t = std::accumulate(penalty.begin(), penalty.end(), 0.0);
  return 1.0 - t * (2.0 / (double(n) * double(k) * (2.0 * double(n) - 3.0 * double(k) - 1.0)));
}

}  // namespace fer::analysis
