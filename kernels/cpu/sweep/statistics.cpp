// The functions declared in sweep/statistics.hpp: compiled once here rather than in every program that includes the header.
#include "fer/sweep/statistics.hpp"

namespace fer::sweep {

double t_quantile_975(int64_t dof) {
  // scipy.stats.t.ppf(0.975, dof) for dof = 0 (unused), 1..30
  static const double table[] = {0, 12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624,
                                 2.306004, 2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450,
                                 2.119905, 2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658,
                                 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272};
  if (dof < 1) return NAN;
  if (dof <= 30) return table[dof];
  const double z = 1.959963985, v = double(dof);
  return z + (z * z * z + z) / (4 * v) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v);
}

MeanCI mean_ci95(const std::vector<double>& v) {
  MeanCI r;
  r.n = int64_t(v.size());
  if (v.empty()) return r;
  double s = 0;
  for (double x : v) s += x;
  r.mean = s / double(v.size());
  if (v.size() < 2) return r;
  double ss = 0;
  for (double x : v) ss += (x - r.mean) * (x - r.mean);
  double sd = std::sqrt(ss / double(v.size() - 1));
  r.half_width = t_quantile_975(r.n - 1) * sd / std::sqrt(double(v.size()));
  return r;
}

double macro_f1(const std::vector<int32_t>& y, const std::vector<int32_t>& pred, int num_classes,
                const std::vector<int64_t>* sample) {
  std::vector<int64_t> tp(size_t(num_classes), 0), fp(size_t(num_classes), 0), fn(size_t(num_classes), 0);
  int64_t n = sample ? int64_t(sample->size()) : int64_t(y.size());
  for (int64_t k = 0; k < n; ++k) {
    size_t i = size_t(sample ? (*sample)[size_t(k)] : k);
    if (y[i] == pred[i]) ++tp[size_t(y[i])];
    else ++fp[size_t(pred[i])], ++fn[size_t(y[i])];
  }
  double s = 0;
  for (int c = 0; c < num_classes; ++c) {
    int64_t denom = 2 * tp[size_t(c)] + fp[size_t(c)] + fn[size_t(c)];
    s += denom ? 2.0 * double(tp[size_t(c)]) / double(denom) : 0.0;
  }
  return s / double(num_classes);
}

PairedDifference paired_bootstrap_f1(const std::vector<int32_t>& y, const std::vector<int32_t>& pred_a,
                                     const std::vector<int32_t>& pred_b, int num_classes,
                                     int64_t resamples, uint64_t seed) {
  FER_CHECK(y.size() == pred_a.size() && y.size() == pred_b.size() && !y.empty(),
            "paired_bootstrap_f1: labels and both prediction sets must have the same non-zero length (", y.size(), ", ",
            pred_a.size(), ", ", pred_b.size(), ")");
  for (size_t i = 0; i < y.size(); ++i)
    FER_CHECK(y[i] >= 0 && y[i] < num_classes && pred_a[i] >= 0 && pred_a[i] < num_classes && pred_b[i] >= 0 &&
                  pred_b[i] < num_classes,
              "paired_bootstrap_f1: class out of range at test image ", i);
  PairedDifference r;
  r.difference = macro_f1(y, pred_a, num_classes) - macro_f1(y, pred_b, num_classes);
  r.resamples = resamples;
  Generator gen(seed);
  std::vector<double> diffs(static_cast<size_t>(resamples));
  std::vector<int64_t> sample(y.size());
  for (int64_t b = 0; b < resamples; ++b) {
    for (auto& s : sample) s = int64_t(gen.below(y.size()));
    diffs[size_t(b)] = macro_f1(y, pred_a, num_classes, &sample) - macro_f1(y, pred_b, num_classes, &sample);
  }
  std::sort(diffs.begin(), diffs.end());
  auto quantile = [&](double q) {
    double pos = q * double(resamples - 1);
    size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, diffs.size() - 1);
    return diffs[lo] + (pos - double(lo)) * (diffs[hi] - diffs[lo]);
  };
  r.ci_low = quantile(0.025), r.ci_high = quantile(0.975);
  int64_t below = 0, above = 0;
  for (double d : diffs) below += d <= 0, above += d >= 0;
  r.p_value = std::min(1.0, 2.0 * double(std::min(below, above)) / double(resamples));
  return r;
}

}  // namespace fer::sweep
