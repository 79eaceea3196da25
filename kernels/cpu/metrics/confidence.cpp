// The functions declared in metrics/confidence.hpp: compiled once here rather than in every program that includes the header.
#include "fer/metrics/confidence.hpp"

namespace fer::metrics {

ConfidenceHistograms confidence_histograms(std::span<const double> probs, std::span<const int32_t> labels,
                                           int64_t num_classes, int64_t bins) {
  const int64_t n = int64_t(labels.size()), c = num_classes;
  FER_CHECK(bins >= 1, "confidence histogram: bins must be >= 1, got ", bins);
  FER_CHECK(c >= 1 && int64_t(probs.size()) == n * c, "confidence histogram: ", probs.size(), " probabilities for ", n,
            " samples x ", c, " classes");
  ConfidenceHistograms h;
  h.bins = bins;
  auto empty = ConfidenceHistogram{std::vector<int64_t>(size_t(bins), 0), std::vector<int64_t>(size_t(bins), 0)};
  h.overall = empty;
  h.per_class.assign(size_t(c), empty);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t y = labels[size_t(i)];
    FER_CHECK(y >= 0 && y < c, "confidence histogram: label ", y, " of sample ", i, " is not in 0..", c - 1);
    const double* p = probs.data() + i * c;
    const int32_t pred = argmax_row(p, c);
    const double conf = p[pred];
    FER_CHECK(std::isfinite(conf), "confidence histogram: probability of sample ", i, " is not finite");
    const size_t b = size_t(std::clamp<int64_t>(int64_t(std::floor(conf * double(bins))), 0, bins - 1));
    auto& overall = pred == y ? h.overall.correct : h.overall.incorrect;
    auto& cls = pred == y ? h.per_class[size_t(y)].correct : h.per_class[size_t(y)].incorrect;
    ++overall[b], ++cls[b];
  }
  return h;
}

std::string confidence_histograms_csv(const ConfidenceHistograms& h, const std::vector<std::string>& class_names) {
  FER_CHECK(class_names.size() == h.per_class.size(), "confidence histogram: ", class_names.size(), " class names for ",
            h.per_class.size(), " classes");
  std::string csv = "group,bin_lower,bin_upper,correct,incorrect\n";
  auto rows = [&](const std::string& group, const ConfidenceHistogram& g) {
    for (int64_t b = 0; b < h.bins; ++b) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), ",%.6g,%.6g,%lld,%lld\n", double(b) / double(h.bins), double(b + 1) / double(h.bins),
                    (long long)g.correct[size_t(b)], (long long)g.incorrect[size_t(b)]);
      csv += group + buf;
    }
  };
  rows("all", h.overall);
  for (size_t k = 0; k < class_names.size(); ++k) rows(class_names[k], h.per_class[k]);
  return csv;
}

void write_confidence_histograms_csv(const std::filesystem::path& path, const ConfidenceHistograms& h,
                                     const std::vector<std::string>& class_names) {
  io::write_file_atomically(path, confidence_histograms_csv(h, class_names));
}

}  // namespace fer::metrics
