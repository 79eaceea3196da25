// The functions declared in metrics/classification.hpp: compiled once here rather than in every program that includes the header.
#include "fer/metrics/classification.hpp"

#include <nlohmann/json.hpp>

namespace fer::metrics {

int32_t argmax_row(const double* p, int64_t c) {
  int64_t best = 0;
  for (int64_t k = 1; k < c; ++k)
    if (p[k] > p[best]) best = k;
  return int32_t(best);
}

double binary_auroc(const std::vector<double>& scores, const std::vector<bool>& positive) {
  size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;
  int64_t pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    double avg_rank = (double(i) + double(j) + 1) / 2;  // ranks i+1..j averaged
    for (size_t k = i; k < j; ++k)
      if (positive[order[k]]) rank_sum += avg_rank, ++pos;
    i = j;
  }
  int64_t neg = int64_t(n) - pos;
  if (pos == 0 || neg == 0) return NAN;
  return (rank_sum - double(pos) * double(pos + 1) / 2) / (double(pos) * double(neg));
}

ClassificationReport classification_report(std::span<const double> probs, std::span<const int32_t> labels,
                                           int64_t num_classes, std::vector<int64_t> top_ks,
                                           int64_t ece_bins) {
  const int64_t n = int64_t(labels.size()), c = num_classes;
  FER_CHECK(c >= 1, "metrics: num_classes must be >= 1");
  FER_CHECK(int64_t(probs.size()) == n * c, "metrics: ", probs.size(), " probabilities for ", n, " samples x ", c, " classes");
  FER_CHECK(n >= 1, "metrics: no samples");
  for (int64_t i = 0; i < n; ++i) {
    FER_CHECK(labels[size_t(i)] >= 0 && labels[size_t(i)] < c, "metrics: label ", labels[size_t(i)], " of sample ", i,
              " is not in 0..", c - 1);
    for (int64_t k = 0; k < c; ++k)
      FER_CHECK(std::isfinite(probs[size_t(i * c + k)]), "metrics: probability of sample ", i, " class ", k, " is not finite");
  }
  ClassificationReport r;
  r.num_samples = n, r.num_classes = c;
  r.confusion.assign(size_t(c), std::vector<int64_t>(size_t(c), 0));
  std::vector<int32_t> pred(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    pred[size_t(i)] = argmax_row(probs.data() + i * c, c);
    ++r.confusion[size_t(labels[size_t(i)])][size_t(pred[size_t(i)])];
  }
  // Precision / recall / F1 per class.
  int64_t correct = 0;
  r.precision.resize(size_t(c)), r.recall.resize(size_t(c)), r.f1.resize(size_t(c)), r.support.resize(size_t(c));
  double bal = 0;
  int64_t present = 0;
  for (int64_t k = 0; k < c; ++k) {
    int64_t tp = r.confusion[size_t(k)][size_t(k)], row = 0, col = 0;
    for (int64_t j = 0; j < c; ++j) row += r.confusion[size_t(k)][size_t(j)], col += r.confusion[size_t(j)][size_t(k)];
    correct += tp;
    r.support[size_t(k)] = row;
    r.precision[size_t(k)] = col ? double(tp) / double(col) : 0.0;
    r.recall[size_t(k)] = row ? double(tp) / double(row) : 0.0;
    double ps = r.precision[size_t(k)] + r.recall[size_t(k)];
    r.f1[size_t(k)] = ps > 0 ? 2 * r.precision[size_t(k)] * r.recall[size_t(k)] / ps : 0.0;
    if (row) bal += r.recall[size_t(k)], ++present;
  }
  r.accuracy = double(correct) / double(n);
  r.balanced_accuracy = present ? bal / double(present) : 0.0;
  for (int64_t k = 0; k < c; ++k) {
    double w = double(r.support[size_t(k)]) / double(n);
    r.macro_precision += r.precision[size_t(k)] / double(c), r.weighted_precision += w * r.precision[size_t(k)];
    r.macro_recall += r.recall[size_t(k)] / double(c), r.weighted_recall += w * r.recall[size_t(k)];
    r.macro_f1 += r.f1[size_t(k)] / double(c), r.weighted_f1 += w * r.f1[size_t(k)];
  }
  // One-vs-rest AUROC.
  r.auroc.assign(size_t(c), NAN);
  double asum = 0, wsum = 0, wtot = 0;
  int64_t acount = 0;
  std::vector<double> scores(static_cast<size_t>(n));
  std::vector<bool> positive(static_cast<size_t>(n));
  for (int64_t k = 0; k < c; ++k) {
    for (int64_t i = 0; i < n; ++i) scores[size_t(i)] = probs[size_t(i * c + k)], positive[size_t(i)] = labels[size_t(i)] == k;
    double a = binary_auroc(scores, positive);
    r.auroc[size_t(k)] = a;
    if (std::isnan(a)) {
      r.auroc_skipped.push_back(k);
      continue;
    }
    asum += a, ++acount;
    wsum += a * double(r.support[size_t(k)]), wtot += double(r.support[size_t(k)]);
  }
  if (acount) r.auroc_macro = asum / double(acount), r.auroc_weighted = wsum / wtot;
  // Top-k.
  for (int64_t k : top_ks) {
    if (k < 1 || k > c) continue;
    int64_t hits = 0;
    std::vector<int64_t> idx(static_cast<size_t>(c));
    for (int64_t i = 0; i < n; ++i) {
      const double* p = probs.data() + i * c;
      std::iota(idx.begin(), idx.end(), 0);
      std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return p[a] > p[b] || (p[a] == p[b] && a > b); });
      for (int64_t t = 0; t < k; ++t) hits += idx[size_t(t)] == labels[size_t(i)];
    }
    r.top_k.push_back({k, double(hits) / double(n)});
  }
  // Log loss.
  const double eps = std::numeric_limits<double>::epsilon();
  double ll = 0;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t k = 0; k < c; ++k) s += std::clamp(probs[size_t(i * c + k)], eps, 1 - eps);
    ll -= std::log(std::clamp(probs[size_t(i * c + labels[size_t(i)])], eps, 1 - eps) / s);
  }
  r.log_loss = ll / double(n);
  // Calibration.
  r.reliability.resize(size_t(ece_bins));
  for (int64_t b = 0; b < ece_bins; ++b)
    r.reliability[size_t(b)].lower = double(b) / double(ece_bins), r.reliability[size_t(b)].upper = double(b + 1) / double(ece_bins);
  for (int64_t i = 0; i < n; ++i) {
    double conf = probs[size_t(i * c + pred[size_t(i)])];
    int64_t b = std::clamp<int64_t>(int64_t(std::floor(conf * double(ece_bins))), 0, ece_bins - 1);
    ReliabilityBin& bin = r.reliability[size_t(b)];
    ++bin.count;
    bin.confidence += conf;
    bin.accuracy += pred[size_t(i)] == labels[size_t(i)] ? 1.0 : 0.0;
  }
  for (ReliabilityBin& bin : r.reliability) {
    if (!bin.count) continue;
    bin.confidence /= double(bin.count), bin.accuracy /= double(bin.count);
    double gap = std::abs(bin.accuracy - bin.confidence);
    r.ece += gap * double(bin.count) / double(n);
    r.mce = std::max(r.mce, gap);
  }
  return r;
}

nlohmann::json ClassificationReport::to_json(const std::vector<std::string>& class_names) const {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"num_samples", num_samples},
                      {"accuracy", accuracy},
                      {"balanced_accuracy", balanced_accuracy},
                      {"macro_precision", macro_precision},
                      {"macro_recall", macro_recall},
                      {"macro_f1", macro_f1},
                      {"weighted_precision", weighted_precision},
                      {"weighted_recall", weighted_recall},
                      {"weighted_f1", weighted_f1},
                      {"auroc_macro", num(auroc_macro)},
                      {"auroc_weighted", num(auroc_weighted)},
                      {"auroc_skipped_classes", auroc_skipped},
                      {"log_loss", log_loss},
                      {"ece", ece},
                      {"mce", mce},
                      {"confusion_matrix", confusion},
                      {"confusion_matrix_normalized", confusion_normalized()}};
  for (const auto& [k, v] : top_k) j["top_" + std::to_string(k) + "_accuracy"] = v;
  j["per_class"] = nlohmann::json::array();
  for (int64_t c = 0; c < num_classes; ++c)
    j["per_class"].push_back({{"class", size_t(c) < class_names.size() ? class_names[size_t(c)] : std::to_string(c)},
                              {"precision", precision[size_t(c)]},
                              {"recall", recall[size_t(c)]},
                              {"f1", f1[size_t(c)]},
                              {"support", support[size_t(c)]},
                              {"auroc", num(auroc[size_t(c)])}});
  j["reliability"] = nlohmann::json::array();
  for (const auto& b : reliability)
    j["reliability"].push_back({{"lower", b.lower}, {"upper", b.upper}, {"count", b.count},
                                {"confidence", b.confidence}, {"accuracy", b.accuracy}});
  return j;
}

}  // namespace fer::metrics
