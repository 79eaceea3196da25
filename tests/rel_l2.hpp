// Relative L2 distance of two tensors or value lists: the measure the fixture and parity tests state their
// tolerances in.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "fer/core/tensor.hpp"

namespace fer::testing {

// ||got - want|| / ||want||, accumulated in double. The shapes must be equal: a reshaped or truncated result is a
// failure of its own, not a large distance.
inline double rel_l2(const Tensor& got, const Tensor& want) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), got.shape().str(), " vs ", want.shape().str());
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double d = got.flat(i) - want.flat(i);
    num += d * d, den += want.flat(i) * want.flat(i);
  }
  return std::sqrt(num / den);
}

// The same over value lists (a fixture's numbers against a result's first values); a length mismatch is infinite.
inline double rel_l2(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i)
    num += (got[i] - want[i]) * (got[i] - want[i]), den += want[i] * want[i];
  if (got.size() != want.size()) return INFINITY;
  return std::sqrt(num / std::max(den, 1e-300));
}

}  // namespace fer::testing
