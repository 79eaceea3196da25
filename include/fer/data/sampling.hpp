#pragma once
// Orders of training examples per epoch, and class weights for imbalance.
//
// Both samplers are functions of (seed, epoch), so a resumed run draws the same epochs as an uninterrupted one.
// BalancedSampler matches PyTorch's WeightedRandomSampler with per-sample weight 1 / count(label) and
// replacement: every present class is equally likely, samples within a class uniform.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/core/rng.hpp"

namespace fer::data {

inline std::vector<int64_t> count_classes(const std::vector<int32_t>& labels, size_t num_classes) {
  std::vector<int64_t> n(num_classes, 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    FER_CHECK(labels[i] >= 0 && size_t(labels[i]) < num_classes, "count_classes: label ", labels[i], " of sample ",
              i, " is outside 0..", num_classes - 1);
    ++n[size_t(labels[i])];
  }
  return n;
}

// Inverse-frequency weights N / (C * n_c) (scikit-learn's compute_class_weight("balanced")); a class without
// samples gets weight 0 (it can never be a target).
inline std::vector<double> balanced_class_weights(const std::vector<int64_t>& counts) {
  int64_t total = 0, present = 0;
  for (int64_t n : counts) total += n, present += n > 0;
  FER_CHECK(total > 0, "balanced_class_weights: no samples");
  std::vector<double> w(counts.size(), 0.0);
  for (size_t c = 0; c < counts.size(); ++c)
    if (counts[c] > 0) w[c] = double(total) / (double(counts.size()) * double(counts[c]));
  return w;
}

inline Generator epoch_generator(uint64_t seed, int64_t epoch) {
  // Distinct, well-mixed streams per epoch (splitmix-style constant).
  return Generator(seed ^ (0x9E3779B97F4A7C15ull * uint64_t(epoch + 1)));
}

// A permutation of 0..n-1 per epoch.
class ShuffleSampler {
 public:
  ShuffleSampler(int64_t n, uint64_t seed) : n_(n), seed_(seed) {}
  std::vector<int64_t> epoch(int64_t e) const {
    std::vector<int64_t> v(static_cast<size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) v[size_t(i)] = i;
    Generator g = epoch_generator(seed_, e);
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(g.below(i))]);
    return v;
  }

 private:
  int64_t n_;
  uint64_t seed_;
};

// Class-balanced draws with replacement; `num_samples` per epoch defaults to the dataset size.
class BalancedSampler {
 public:
  BalancedSampler(const std::vector<int32_t>& labels, size_t num_classes, uint64_t seed, int64_t num_samples = -1)
      : seed_(seed), num_samples_(num_samples < 0 ? int64_t(labels.size()) : num_samples), members_(num_classes) {
    for (size_t i = 0; i < labels.size(); ++i) {
      FER_CHECK(labels[i] >= 0 && size_t(labels[i]) < num_classes, "BalancedSampler: label ", labels[i],
                " of sample ", i, " is outside 0..", num_classes - 1);
      members_[size_t(labels[i])].push_back(int64_t(i));
    }
    for (size_t c = 0; c < num_classes; ++c)
      if (!members_[c].empty()) present_.push_back(c);
    FER_CHECK(!present_.empty(), "BalancedSampler: no samples");
  }
  std::vector<int64_t> epoch(int64_t e) const {
    Generator g = epoch_generator(seed_, e);
    std::vector<int64_t> v(static_cast<size_t>(num_samples_));
    for (auto& x : v) {
      const auto& m = members_[present_[size_t(g.below(present_.size()))]];
      x = m[size_t(g.below(m.size()))];
    }
    return v;
  }

 private:
  uint64_t seed_;
  int64_t num_samples_;
  std::vector<std::vector<int64_t>> members_;
  std::vector<size_t> present_;
};

// A class-distribution table (markdown) for logs and reports.
inline std::string class_distribution_table(const std::vector<std::string>& class_names,
                                            const std::vector<std::pair<std::string, std::vector<int64_t>>>& splits) {
  std::string t = "| class |";
  std::string rule = "|---|";
  for (const auto& [name, counts] : splits) {
    FER_CHECK(counts.size() == class_names.size(), "class_distribution_table: split '", name, "' has ", counts.size(),
              " counts for ", class_names.size(), " classes");
    t += " " + name + " | % |";
    rule += "---:|---:|";
  }
  t += "\n" + rule + "\n";
  std::vector<int64_t> totals;
  for (const auto& s : splits) {
    int64_t n = 0;
    for (int64_t v : s.second) n += v;
    totals.push_back(n);
  }
  char buf[64];
  for (size_t c = 0; c <= class_names.size(); ++c) {
    t += "| " + (c < class_names.size() ? class_names[c] : std::string("**total**")) + " |";
    for (size_t s = 0; s < splits.size(); ++s) {
      int64_t v = c < class_names.size() ? splits[s].second[c] : totals[s];
      std::snprintf(buf, sizeof(buf), " %lld | %.1f |", (long long)v, totals[s] ? 100.0 * double(v) / double(totals[s]) : 0.0);
      t += buf;
    }
    t += "\n";
  }
  return t;
}

}  // namespace fer::data
