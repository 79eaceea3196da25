// The functions declared in metrics/curves.hpp: compiled once here rather than in every program that includes the header.
#include "fer/metrics/curves.hpp"

#include <nlohmann/json.hpp>

namespace fer::metrics::curves_detail {

Counts binary_counts(std::span<const double> scores, const std::vector<bool>& positive) {
  const size_t n = scores.size();
  FER_CHECK(n >= 1 && positive.size() == n, "curves: ", n, " scores for ", positive.size(), " labels");
  for (size_t i = 0; i < n; ++i) FER_CHECK(std::isfinite(scores[i]), "curves: score ", i, " is not finite");
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Order within ties does not matter: counts are read only at the end of each group of equal scores.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  Counts c;
  double tp = 0;
  for (size_t i = 0; i < n; ++i) {
    tp += positive[order[i]] ? 1.0 : 0.0;
    if (i + 1 == n || scores[order[i + 1]] != scores[order[i]]) {
      c.tps.push_back(tp);
      c.fps.push_back(double(i + 1) - tp);
      c.thresholds.push_back(scores[order[i]]);
    }
  }
  return c;
}

double numpy_pairwise(const double* a, size_t n) {
  if (n < 8) {
    double r = 0.;
    for (size_t i = 0; i < n; ++i) r += a[i];
    return r;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - n % 8; i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + size_t(j)];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_pairwise(a, n2) + numpy_pairwise(a + n2, n - n2);
}

double numpy_sum(const std::vector<double>& v) {
  double r = 0;
  for (size_t i = 0; i < v.size(); i += 8192) r += numpy_pairwise(v.data() + i, std::min<size_t>(8192, v.size() - i));
  return r;
}

}  // namespace fer::metrics::curves_detail

namespace fer::metrics {

RocCurve roc_curve(std::span<const double> scores, const std::vector<bool>& positive, bool drop_intermediate) {
  curves_detail::Counts c = curves_detail::binary_counts(scores, positive);
  std::vector<size_t> keep;
  const size_t m = c.fps.size();
  for (size_t i = 0; i < m; ++i) {
    bool corner = i == 0 || i + 1 == m || !drop_intermediate || m <= 2 ||
                  (c.fps[i + 1] - c.fps[i]) - (c.fps[i] - c.fps[i - 1]) != 0 ||
                  (c.tps[i + 1] - c.tps[i]) - (c.tps[i] - c.tps[i - 1]) != 0;
    if (corner) keep.push_back(i);
  }
  RocCurve r;
  const double fmax = c.fps.back(), tmax = c.tps.back();
  r.fpr.push_back(fmax > 0 ? 0.0 : NAN), r.tpr.push_back(tmax > 0 ? 0.0 : NAN);
  r.thresholds.push_back(c.thresholds[keep[0]] + 1);
  for (size_t i : keep) {
    r.fpr.push_back(fmax > 0 ? c.fps[i] / fmax : NAN);
    r.tpr.push_back(tmax > 0 ? c.tps[i] / tmax : NAN);
    r.thresholds.push_back(c.thresholds[i]);
  }
  return r;
}

PrCurve precision_recall_curve(std::span<const double> scores, const std::vector<bool>& positive) {
  curves_detail::Counts c = curves_detail::binary_counts(scores, positive);
  PrCurve r;
  const double tmax = c.tps.back();
  for (size_t k = c.tps.size(); k-- > 0;) {
    double ps = c.tps[k] + c.fps[k];
    r.precision.push_back(ps != 0 ? c.tps[k] / ps : 0.0);
    r.recall.push_back(tmax == 0 ? 1.0 : c.tps[k] / tmax);
    r.thresholds.push_back(c.thresholds[k]);
  }
  r.precision.push_back(1.0), r.recall.push_back(0.0);
  return r;
}

double average_precision(std::span<const double> scores, const std::vector<bool>& positive) {
  PrCurve pr = precision_recall_curve(scores, positive);
  std::vector<double> terms(pr.recall.size() - 1);
  for (size_t i = 0; i + 1 < pr.recall.size(); ++i) terms[i] = (pr.recall[i + 1] - pr.recall[i]) * pr.precision[i];
  return -curves_detail::numpy_sum(terms);
}

std::vector<ClassCurves> one_vs_rest_curves(std::span<const double> probs, std::span<const int32_t> labels,
                                             int64_t num_classes, bool drop_intermediate) {
  const int64_t n = int64_t(labels.size()), c = num_classes;
  FER_CHECK(c >= 1 && n >= 1, "curves: need at least one sample and one class");
  FER_CHECK(int64_t(probs.size()) == n * c, "curves: ", probs.size(), " probabilities for ", n, " samples x ", c, " classes");
  std::vector<ClassCurves> out(static_cast<size_t>(c));
  std::vector<double> scores(static_cast<size_t>(n));
  std::vector<bool> positive(static_cast<size_t>(n));
  for (int64_t k = 0; k < c; ++k) {
    ClassCurves& cc = out[size_t(k)];
    for (int64_t i = 0; i < n; ++i) {
      FER_CHECK(labels[size_t(i)] >= 0 && labels[size_t(i)] < c, "curves: label ", labels[size_t(i)], " of sample ", i,
                " is not in 0..", c - 1);
      scores[size_t(i)] = probs[size_t(i * c + k)];
      positive[size_t(i)] = labels[size_t(i)] == k;
      cc.positives += positive[size_t(i)];
    }
    cc.negatives = n - cc.positives;
    cc.roc = roc_curve(scores, positive, drop_intermediate);
    cc.pr = precision_recall_curve(scores, positive);
    cc.auroc = binary_auroc(scores, positive);
    if (cc.positives > 0) cc.average_precision = average_precision(scores, positive);
  }
  return out;
}

double macro_average_precision(const std::vector<ClassCurves>& curves) {
  double s = 0;
  int64_t k = 0;
  for (const ClassCurves& c : curves)
    if (std::isfinite(c.average_precision)) s += c.average_precision, ++k;
  return k ? s / double(k) : NAN;
}

nlohmann::json curves_summary_json(const std::vector<ClassCurves>& curves, const std::vector<std::string>& class_names) {
  FER_CHECK(class_names.size() == curves.size(), "curves: ", class_names.size(), " class names for ", curves.size(), " classes");
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"macro_average_precision", num(macro_average_precision(curves))}, {"per_class", nlohmann::json::array()}};
  for (size_t k = 0; k < curves.size(); ++k)
    j["per_class"].push_back({{"class", class_names[k]}, {"auroc", num(curves[k].auroc)},
                              {"average_precision", num(curves[k].average_precision)},
                              {"positives", curves[k].positives}, {"negatives", curves[k].negatives}});
  return j;
}

std::string curves_csv(const std::vector<ClassCurves>& curves, const std::vector<std::string>& class_names) {
  FER_CHECK(class_names.size() == curves.size(), "curves: ", class_names.size(), " class names for ", curves.size(), " classes");
  auto num = [](double v) {
    if (std::isnan(v)) return std::string("nan");
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    return std::string(buf);
  };
  std::string csv = "class,curve,x,y,threshold\n";
  for (size_t k = 0; k < curves.size(); ++k) {
    const ClassCurves& c = curves[k];
    for (size_t i = 0; i < c.roc.fpr.size(); ++i)
      csv += class_names[k] + ",roc," + num(c.roc.fpr[i]) + "," + num(c.roc.tpr[i]) + "," + num(c.roc.thresholds[i]) + "\n";
    for (size_t i = 0; i < c.pr.recall.size(); ++i)
      csv += class_names[k] + ",pr," + num(c.pr.recall[i]) + "," + num(c.pr.precision[i]) + "," +
             (i < c.pr.thresholds.size() ? num(c.pr.thresholds[i]) : std::string()) + "\n";
  }
  return csv;
}

void write_curves_csv(const std::filesystem::path& path, const std::vector<ClassCurves>& curves,
                      const std::vector<std::string>& class_names) {
  io::write_file_atomically(path, curves_csv(curves, class_names));
}

}  // namespace fer::metrics
