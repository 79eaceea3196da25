#pragma once
// ROC and precision-recall curves and average precision, point for point as scikit-learn 1.2 computes them
// (roc_curve, precision_recall_curve, average_precision_score), per class one-vs-rest for a probability matrix.
//
//   thresholds   the distinct scores in decreasing order; ROC prepends max + 1 (sklearn 1.2, not inf as in 1.3)
//   roc          drop_intermediate (default, as sklearn) keeps only corners: points where the second difference
//                of the false- or true-positive counts is non-zero, plus both ends
//   no positives ROC: tpr is NaN everywhere; PR: recall 1 at every threshold (sklearn warns in both cases)
//   no negatives ROC: fpr is NaN everywhere
//   AP           -sum(diff(recall) * precision[:-1]) summed in NumPy's order (pairwise within 8192-element
//                blocks), so it equals sklearn's value bit for bit
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/metrics/classification.hpp"

namespace fer::metrics {

struct RocCurve {
  std::vector<double> fpr, tpr, thresholds;
};

struct PrCurve {
  std::vector<double> precision, recall, thresholds;  // precision/recall have one more point (1, 0) at the end
};

namespace curves_detail {

// Cumulative false/true positives at each distinct score, scores decreasing (sklearn's _binary_clf_curve).
struct Counts {
  std::vector<double> fps, tps, thresholds;
};

Counts binary_counts(std::span<const double> scores, const std::vector<bool>& positive);

// NumPy's float64 sum: pairwise (8 accumulators below 128 elements) within each 8192-element buffer, buffers added
// in order.
double numpy_pairwise(const double* a, size_t n);

double numpy_sum(const std::vector<double>& v);

}  // namespace curves_detail

RocCurve roc_curve(std::span<const double> scores, const std::vector<bool>& positive, bool drop_intermediate = true);

PrCurve precision_recall_curve(std::span<const double> scores, const std::vector<bool>& positive);

// Step-function integral of the PR curve (sklearn's average_precision_score, one binary problem).
double average_precision(std::span<const double> scores, const std::vector<bool>& positive);

// One class against the rest.
struct ClassCurves {
  RocCurve roc;
  PrCurve pr;
  double auroc = NAN;              // NaN without both positives and negatives
  double average_precision = NAN;  // NaN without positives (sklearn gives 0 with a warning)
  int64_t positives = 0, negatives = 0;
};

std::vector<ClassCurves> one_vs_rest_curves(std::span<const double> probs, std::span<const int32_t> labels,
                                             int64_t num_classes, bool drop_intermediate = true);

// Mean AP over the classes that have positives (NaN when none has).
double macro_average_precision(const std::vector<ClassCurves>& curves);

// Per class AUROC, AP and counts, plus the macro AP (null where undefined), for a metrics JSON.
nlohmann::json curves_summary_json(const std::vector<ClassCurves>& curves, const std::vector<std::string>& class_names);

// The points as CSV: class,curve,x,y,threshold with curve "roc" (x = fpr, y = tpr) or "pr" (x = recall,
// y = precision; the final (0, 1) point has an empty threshold); NaN written as "nan". Doubles round-trip (%.17g).
std::string curves_csv(const std::vector<ClassCurves>& curves, const std::vector<std::string>& class_names);

void write_curves_csv(const std::filesystem::path& path, const std::vector<ClassCurves>& curves,
                      const std::vector<std::string>& class_names);

}  // namespace fer::metrics
