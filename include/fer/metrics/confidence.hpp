#pragma once
// Histograms of the top-class confidence (the largest probability of a row) split into correct and incorrect
// predictions, overall and per true class: where a model is confidently wrong. Bins are equal-width on [0, 1] with
// bin = min(floor(conf * bins), bins - 1), as the reliability bins of classification.hpp; the prediction is the
// argmax (ties -> lowest class), as everywhere in fer::metrics.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/metrics/classification.hpp"

namespace fer::metrics {

struct ConfidenceHistogram {
  std::vector<int64_t> correct, incorrect;  // per bin
  int64_t total() const {
    int64_t s = 0;
    for (size_t b = 0; b < correct.size(); ++b) s += correct[b] + incorrect[b];
    return s;
  }
};

struct ConfidenceHistograms {
  int64_t bins = 0;
  ConfidenceHistogram overall;
  std::vector<ConfidenceHistogram> per_class;  // by true class
};

ConfidenceHistograms confidence_histograms(std::span<const double> probs, std::span<const int32_t> labels,
                                           int64_t num_classes, int64_t bins = 20);

// CSV: group,bin_lower,bin_upper,correct,incorrect with group "all" then each class name.
std::string confidence_histograms_csv(const ConfidenceHistograms& h, const std::vector<std::string>& class_names);

void write_confidence_histograms_csv(const std::filesystem::path& path, const ConfidenceHistograms& h,
                                     const std::vector<std::string>& class_names);

}  // namespace fer::metrics
