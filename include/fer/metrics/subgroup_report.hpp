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
#include <nlohmann/json.hpp>
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
inline double sorted_quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  double pos = q * double(sorted.size() - 1);
  size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

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

  nlohmann::json to_json() const {
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    auto iv = [&](const Interval& i) {
      return nlohmann::json{{"value", num(i.value)}, {"ci_low", num(i.low)}, {"ci_high", num(i.high)}, {"finite_resamples", i.finite}};
    };
    nlohmann::json j = {{"attribute", attribute}, {"resamples", bootstrap.resamples}, {"seed", bootstrap.seed},
                        {"level", bootstrap.level}, {"images_without_value", without_value}, {"groups", nlohmann::json::array()}};
    for (const auto& g : groups)
      j["groups"].push_back({{"value", g.value}, {"n", g.n}, {"support", g.support}, {"accuracy", iv(g.accuracy)},
                             {"macro_f1", iv(g.macro_f1)}, {"balanced_accuracy", iv(g.balanced_accuracy)},
                             {"auroc_macro", iv(g.auroc_macro)}});
    return j;
  }

  // A Markdown table: one row per group, each metric as "value [low, high]".
  std::string markdown() const {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "| %s | n | accuracy | macro F1 | balanced accuracy | AUROC (macro) |\n|---|---|---|---|---|---|\n",
                  attribute.c_str());
    std::string s = buf;
    auto cell = [&](const Interval& i) {
      std::snprintf(buf, sizeof(buf), " %.4f [%.4f, %.4f] |", i.value, i.low, i.high);
      return std::string(buf);
    };
    for (const auto& g : groups)
      s += "| " + g.value + " | " + std::to_string(g.n) + " |" + cell(g.accuracy) + cell(g.macro_f1) +
           cell(g.balanced_accuracy) + cell(g.auroc_macro) + "\n";
    std::snprintf(buf, sizeof(buf), "\n%lld-resample percentile bootstrap, %.0f%% intervals, seed %llu.\n",
                  (long long)bootstrap.resamples, bootstrap.level * 100, (unsigned long long)bootstrap.seed);
    return s + buf;
  }
};

// The four metrics of the images in `sample` (indices into probs/labels).
inline std::vector<double> subgroup_metrics_of(std::span<const double> probs, std::span<const int32_t> labels, int64_t c,
                                               std::span<const int64_t> sample) {
  std::vector<double> p;
  std::vector<int32_t> y;
  p.reserve(sample.size() * size_t(c)), y.reserve(sample.size());
  for (int64_t i : sample) {
    p.insert(p.end(), probs.begin() + i * c, probs.begin() + (i + 1) * c);
    y.push_back(labels[size_t(i)]);
  }
  ClassificationReport r = classification_report(p, y, c, {}, 1);
  return {r.accuracy, r.macro_f1, r.balanced_accuracy, r.auroc_macro};
}

// Per-group metrics and intervals. `group_of[i]` is image i's value ("" = none: counted in "all" only).
inline SubgroupReport subgroup_report(std::span<const double> probs, std::span<const int32_t> labels, int64_t num_classes,
                                      const std::vector<std::string>& group_of, const std::string& attribute,
                                      const BootstrapOptions& o = {}) {
  const int64_t n = int64_t(labels.size());
  FER_CHECK(int64_t(group_of.size()) == n, "subgroup_report: ", group_of.size(), " group values for ", n, " images");
  FER_CHECK(int64_t(probs.size()) == n * num_classes, "subgroup_report: ", probs.size(), " probabilities for ", n,
            " images x ", num_classes, " classes");
  SubgroupReport rep;
  rep.attribute = attribute, rep.num_classes = num_classes, rep.bootstrap = o;
  std::vector<std::string> names = {"all"};
  std::vector<std::vector<int64_t>> members(1);
  for (int64_t i = 0; i < n; ++i) {
    members[0].push_back(i);
    const std::string& v = group_of[size_t(i)];
    if (v.empty()) {
      ++rep.without_value;
      continue;
    }
    size_t g = size_t(std::find(names.begin() + 1, names.end(), v) - names.begin());
    if (g == names.size()) names.push_back(v), members.emplace_back();
    members[g].push_back(i);
  }
  for (size_t g = 0; g < names.size(); ++g) {
    const auto& m = members[g];
    BootstrapOptions og = o;
    og.seed = o.seed * 0x9E3779B97F4A7C15ull + g;  // each group its own stream, independent of the others' sizes
    auto iv = percentile_bootstrap(int64_t(m.size()), og, [&](std::span<const int64_t> sample) {
      std::vector<int64_t> global(sample.size());
      for (size_t k = 0; k < sample.size(); ++k) global[k] = m[size_t(sample[k])];
      return subgroup_metrics_of(probs, labels, num_classes, global);
    });
    SubgroupMetrics s;
    s.value = names[g], s.n = int64_t(m.size());
    s.accuracy = iv[0], s.macro_f1 = iv[1], s.balanced_accuracy = iv[2], s.auroc_macro = iv[3];
    s.support.assign(size_t(num_classes), 0);
    for (int64_t i : m) ++s.support[size_t(labels[size_t(i)])];
    rep.groups.push_back(s);
  }
  return rep;
}

// A run's predictions as write_eval_outputs leaves them: predictions.csv (id,true,predicted,p_<class>...).
struct Predictions {
  std::vector<std::string> ids, class_names;
  std::vector<int32_t> labels;
  std::vector<double> probs;  // [N, C]
  int64_t num_classes() const { return int64_t(class_names.size()); }
};

inline Predictions predictions_of(const data::ImageSet& set, std::span<const int32_t> labels, std::span<const double> probs) {
  FER_CHECK(int64_t(labels.size()) == set.size() && int64_t(probs.size()) == set.size() * set.num_classes(),
            "predictions_of: ", labels.size(), " labels and ", probs.size(), " probabilities for ", set.size(), " images");
  Predictions p{{}, set.class_names(), {labels.begin(), labels.end()}, {probs.begin(), probs.end()}};
  for (int64_t i = 0; i < set.size(); ++i) p.ids.push_back(set.id(i));
  return p;
}

inline Predictions read_predictions_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  FER_CHECK(in.good(), path.string(), ": cannot open (no predictions; was the run tested?)");
  Predictions p;
  std::string line;
  std::getline(in, line);
  std::vector<std::string> head;
  std::stringstream hs(line);
  for (std::string f; std::getline(hs, f, ',');) head.push_back(f);
  FER_CHECK(head.size() >= 4 && head[0] == "id" && head[1] == "true" && head[2] == "predicted", path.string(),
            ":1: expected the header id,true,predicted,p_<class>,...");
  for (size_t k = 3; k < head.size(); ++k) p.class_names.push_back(head[k].rfind("p_", 0) == 0 ? head[k].substr(2) : head[k]);
  const size_t c = p.class_names.size();
  for (int64_t line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    FER_CHECK(f.size() == c + 3, path.string(), ":", line_no, ": ", f.size(), " fields, the header has ", c + 3);
    try {
      size_t used = 0;
      int64_t y = std::stoll(f[1], &used);
      FER_CHECK(used == f[1].size() && y >= 0 && y < int64_t(c), "label");
      p.labels.push_back(int32_t(y));
      for (size_t k = 0; k < c; ++k) {
        double v = std::stod(f[3 + k], &used);
        FER_CHECK(used == f[3 + k].size() && std::isfinite(v), "probability");
        p.probs.push_back(v);
      }
    } catch (const std::exception&) {
      fail(path.string(), ":", line_no, ": malformed row (label 0..", c - 1, " and ", c, " probabilities expected)");
    }
    p.ids.push_back(f[0]);
  }
  FER_CHECK(!p.ids.empty(), path.string(), ": no predictions");
  return p;
}

// Per-subgroup reports of `p` for the attribute columns `columns` (comma-separated; empty = every column of the CSV),
// written to <dir>/subgroups.json and <dir>/subgroups.md; returns what subgroups.json holds.
inline nlohmann::json write_subgroup_reports(const std::filesystem::path& dir, const Predictions& p,
                                             const std::string& attributes_csv, const std::string& columns,
                                             const BootstrapOptions& o = {}, bool quiet = false) {
  data::AttributeTable t = data::read_attributes_csv(attributes_csv);
  data::AttributeJoin j = data::join_attributes(t, p.ids);
  if (!quiet) std::printf("attributes: %s\n", j.summary(t).c_str());
  std::vector<std::string> cols;
  std::stringstream cs(columns);
  for (std::string c; std::getline(cs, c, ',');)
    if (!c.empty()) cols.push_back(c);
  if (cols.empty()) cols = t.columns;
  nlohmann::json out = {{"attributes", attributes_csv}, {"images", p.ids.size()},
                        {"images_without_row", j.images_without_row.size()}, {"rows_matching_no_image", j.unmatched_rows.size()},
                        {"reports", nlohmann::json::array()}};
  std::string md = "# Metrics per subgroup\n\n" + j.summary(t) + ".\n";
  for (const std::string& name : cols) {
    const size_t col = t.column(name);
    std::vector<std::string> group_of(p.ids.size());
    for (size_t i = 0; i < p.ids.size(); ++i) group_of[i] = data::attribute_value(t, j, col, int64_t(i));
    SubgroupReport r = subgroup_report(p.probs, p.labels, p.num_classes(), group_of, name, o);
    out["reports"].push_back(r.to_json());
    md += "\n## " + name + "\n\n" + r.markdown();
    if (r.without_value) md += std::to_string(r.without_value) + " images have no " + name + " value (in \"all\" only).\n";
  }
  std::filesystem::create_directories(dir);
  io::write_file_atomically(dir / "subgroups.json", out.dump(2) + "\n");
  io::write_file_atomically(dir / "subgroups.md", md);
  if (!quiet) std::printf("%s", md.c_str());
  return out;
}

}  // namespace fer::metrics
