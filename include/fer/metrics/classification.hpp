#pragma once
// Classification metrics defined exactly as scikit-learn 1.2 defines them (labels = 0..C-1, zero_division = 0), plus
// the expected calibration error as torchmetrics computes it. Inputs: probabilities [N, C] row-major and labels [N].
//
//   accuracy                 fraction of argmax predictions equal to the label (argmax ties -> lowest class)
//   balanced_accuracy        mean recall over the classes present in the labels (sklearn balanced_accuracy_score)
//   precision/recall/f1      per class; macro = plain mean over all C classes; weighted = support-weighted mean
//   auroc                    one-vs-rest ROC AUC per class with tied scores averaged (Mann-Whitney); a class absent
//                            from the labels (or present in every label) has no AUROC: NaN per class, left out of the
//                            macro/weighted means and listed in auroc_skipped (scikit-learn raises instead)
//   top_k                    sklearn top_k_accuracy_score: score ties ranked higher class index first (its stable
//                            argsort reversed)
//   log_loss                 sklearn 1.2 log_loss (eps="auto"): probabilities clipped to [e, 1 - e] with e the f64
//                            machine epsilon, rows renormalized
//   ece / mce                15 equal-width bins of the max-probability confidence, bin = min(floor(conf * 15), 14);
//                            ece = sum_b |acc_b - conf_b| * n_b / N (torchmetrics' l1 calibration error)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json_fwd.hpp>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::metrics {

struct ReliabilityBin {
  double lower, upper;
  int64_t count = 0;
  double confidence = 0, accuracy = 0;  // means over the bin's samples (0 when empty)
};

struct ClassificationReport {
  int64_t num_samples = 0, num_classes = 0;
  double accuracy = 0, balanced_accuracy = 0;
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double weighted_precision = 0, weighted_recall = 0, weighted_f1 = 0;
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;
  std::vector<double> auroc;  // NaN for classes without an AUROC
  double auroc_macro = NAN, auroc_weighted = NAN;
  std::vector<int64_t> auroc_skipped;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<std::pair<int64_t, double>> top_k;  // (k, accuracy)
  double log_loss = 0;
  double ece = 0, mce = 0;
  std::vector<ReliabilityBin> reliability;

  std::vector<std::vector<double>> confusion_normalized() const {  // rows sum to 1 (0 for absent classes)
    std::vector<std::vector<double>> out;
    for (const auto& row : confusion) {
      double s = double(std::accumulate(row.begin(), row.end(), int64_t(0)));
      std::vector<double> r;
      for (int64_t v : row) r.push_back(s > 0 ? double(v) / s : 0.0);
      out.push_back(r);
    }
    return out;
  }

  nlohmann::json to_json(const std::vector<std::string>& class_names = {}) const;
};

int32_t argmax_row(const double* p, int64_t c);

// One-vs-rest AUROC of `scores` for the positives in `positive`; NaN without both positives and negatives.
double binary_auroc(const std::vector<double>& scores, const std::vector<bool>& positive);

ClassificationReport classification_report(std::span<const double> probs, std::span<const int32_t> labels,
                                           int64_t num_classes, std::vector<int64_t> top_ks = {1, 3},
                                           int64_t ece_bins = 15);

}  // namespace fer::metrics
