#pragma once
// Metrics per subgroup (the images sharing one attribute value, e.g. gender=female) with percentile-bootstrap
// confidence intervals.
//
// For each group (and "all" images) the point estimates are classification_report's accuracy, macro F1 (over all
// C classes, as on the whole set), balanced accuracy and macro one-vs-rest AUROC. The interval of each is the
// percentile bootstrap: B resamples of the group's n images drawn with replacement (n draws of gen.below(n) per
// resample; group g, counting "all" as 0, draws from Generator(seed * 0x9E3779B97F4A7C15 + g)), the metric on each,
// and the (1-level)/2 and (1+level)/2 quantiles of the B values with linear interpolation between order statistics
// (NumPy's default percentile, as sweep/statistics.hpp's paired bootstrap). A resample whose macro AUROC is
// undefined (a single class drawn) is left out of that metric's quantiles; `finite` counts the ones used.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/core/rng.hpp"
#include "fer/data/attributes.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/metrics/classification.hpp"

namespace fer::metrics {

struct BootstrapOptions {
  int64_t resamples = 1000;
  uint64_t seed = 0;
  double level = 0.95;
};

struct Interval {
  double value = NAN;            // on the group itself
  double low = NAN, high = NAN;  // percentile-bootstrap interval
  int64_t finite = 0;            // resamples with a defined value
};

// Quantile q of sorted values, linear between order statistics (numpy.percentile's default).
double sorted_quantile(const std::vector<double>& sorted, double q);

// Percentile-bootstrap intervals of several statistics of n items. `stat(sample)` returns one value per statistic
// for the items listed in `sample` (NaN when undefined); `full` is stat on all items in order.
template <class Stat>
std::vector<Interval> percentile_bootstrap(int64_t n, const BootstrapOptions& o, Stat&& stat) {
  FER_CHECK(n >= 1, "bootstrap: no items");
  FER_CHECK(o.resamples >= 2, "bootstrap: needs at least 2 resamples, got ", o.resamples);
  FER_CHECK(o.level > 0 && o.level < 1, "bootstrap: level ", o.level, " is not in (0, 1)");
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
  std::vector<double> full = stat(std::span<const int64_t>(all));
  std::vector<std::vector<double>> draws(full.size());
  Generator gen(o.seed);
  std::vector<int64_t> sample(static_cast<size_t>(n));
  for (int64_t b = 0; b < o.resamples; ++b) {
    for (auto& s : sample) s = int64_t(gen.below(uint64_t(n)));
    std::vector<double> v = stat(std::span<const int64_t>(sample));
    for (size_t k = 0; k < v.size(); ++k)
      if (std::isfinite(v[k])) draws[k].push_back(v[k]);
  }
  std::vector<Interval> out(full.size());
  for (size_t k = 0; k < full.size(); ++k) {
    std::sort(draws[k].begin(), draws[k].end());
    out[k].value = full[k];
    out[k].finite = int64_t(draws[k].size());
    out[k].low = sorted_quantile(draws[k], (1 - o.level) / 2);
    out[k].high = sorted_quantile(draws[k], (1 + o.level) / 2);
  }
  return out;
}

struct SubgroupMetrics {
  std::string value;  // the attribute value ("all" for every image)
  int64_t n = 0;
  Interval accuracy, macro_f1, balanced_accuracy, auroc_macro;
  std::vector<int64_t> support;  // per class
};

struct SubgroupReport {
  std::string attribute;
  int64_t num_classes = 0;
  BootstrapOptions bootstrap;
  std::vector<SubgroupMetrics> groups;  // "all" first, then the values in order of first appearance
  int64_t without_value = 0;            // images in "all" but in no group (no row or unknown value)

  nlohmann::json to_json() const;

  // A Markdown table: one row per group, each metric as "value [low, high]".
  std::string markdown() const;
};

// The four metrics of the images in `sample` (indices into probs/labels).
std::vector<double> subgroup_metrics_of(std::span<const double> probs, std::span<const int32_t> labels, int64_t c,
                                        std::span<const int64_t> sample);

// Per-group metrics and intervals. `group_of[i]` is image i's value ("" = none: counted in "all" only).
SubgroupReport subgroup_report(std::span<const double> probs, std::span<const int32_t> labels, int64_t num_classes,
                               const std::vector<std::string>& group_of, const std::string& attribute,
                               const BootstrapOptions& o = {});

// A run's predictions as write_eval_outputs leaves them: predictions.csv (id,true,predicted,p_<class>...).
struct Predictions {
  std::vector<std::string> ids, class_names;
  std::vector<int32_t> labels;
  std::vector<double> probs;  // [N, C]
  int64_t num_classes() const { return int64_t(class_names.size()); }
};

Predictions predictions_of(const data::ImageSet& set, std::span<const int32_t> labels, std::span<const double> probs);

Predictions read_predictions_csv(const std::filesystem::path& path);

// Per-subgroup reports of `p` for the attribute columns `columns` (comma-separated; empty = every column of the CSV),
// written to <dir>/subgroups.json and <dir>/subgroups.md; returns what subgroups.json holds.
nlohmann::json write_subgroup_reports(const std::filesystem::path& dir, const Predictions& p,
                                      const std::string& attributes_csv, const std::string& columns,
                                      const BootstrapOptions& o = {}, bool quiet = false);

}  // namespace fer::metrics
