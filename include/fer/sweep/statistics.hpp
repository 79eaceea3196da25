#pragma once
// Statistics for the sweep report: mean with a 95% confidence interval over seeds (Student's t), and a paired
// bootstrap of the macro-F1 difference between two prediction sets on the same test images.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/core/rng.hpp"

namespace fer::sweep {

struct MeanCI {
  double mean = NAN;
  double half_width = NAN;  // 95% CI = mean +- half_width (NaN with fewer than 2 values)
  int64_t n = 0;
};

// The 97.5% quantile of Student's t with `dof` degrees of freedom: a table up to 30, then the Cornish-Fisher
// expansion around the normal quantile (error < 1e-4 beyond 30).
double t_quantile_975(int64_t dof);

MeanCI mean_ci95(const std::vector<double>& v);

// Macro F1 over `num_classes` from label/prediction arrays (classes absent from both count as F1 0, as
// scikit-learn with labels=range(C) and zero_division=0).
double macro_f1(const std::vector<int32_t>& y, const std::vector<int32_t>& pred, int num_classes,
                const std::vector<int64_t>* sample = nullptr);

struct PairedDifference {
  double difference = 0;           // F1(a) - F1(b) on the full test set
  double ci_low = 0, ci_high = 0;  // 95% percentile interval of the bootstrap distribution
  double p_value = 1;              // two-sided: 2 x the smaller tail fraction beyond 0
  int64_t resamples = 0;
  bool significant() const { return ci_low > 0 || ci_high < 0; }
};

// Paired bootstrap: resample test images with replacement, recompute both models' macro-F1 on the same sample.
PairedDifference paired_bootstrap_f1(const std::vector<int32_t>& y, const std::vector<int32_t>& pred_a,
                                     const std::vector<int32_t>& pred_b, int num_classes,
                                     int64_t resamples = 1000, uint64_t seed = 0);

}  // namespace fer::sweep
