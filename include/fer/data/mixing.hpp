#pragma once
// Real/synthetic training mixes at a real-data ratio r, stratified per class and seeded, with a manifest that
// records exactly which images a run trained on.
//
// fixed_total (the study's default): N = size of the real training set; each class keeps its real share N_c, of
// which round(r * N_c) images are real and the rest synthetic (largest-remainder rounding, so the real total is
// exactly round(r * N)). real_plus_synthetic: all real images plus k x N synthetic, in the real class proportions.
// Validation and test sets are never mixed. When a class's synthetic pool is smaller than its share and repeats are
// allowed, images are drawn again; the manifest's `repeat` column and repeat_summary() say how often.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/core/rng.hpp"
#include "fer/io/atomic_file.hpp"

namespace fer::data {

struct MixItem {
  bool synthetic = false;
  int64_t index = 0;   // into the real or the synthetic pool
  int32_t label = 0;
  int32_t repeat = 0;  // 0: first use of this image in the mix; k: its k-th reuse
};

struct MixOptions {
  enum class Mode { fixed_total, real_plus_synthetic } mode = Mode::fixed_total;
  double real_ratio = 1.0;           // r in [0, 1] (fixed_total)
  double synthetic_multiple = 1.0;   // k (real_plus_synthetic)
  uint64_t seed = 0;
  bool allow_repeats = false;        // draw synthetic images again when a class's pool is too small
};

struct Mix {
  std::vector<MixItem> items;        // shuffled training order is the sampler's job; items are grouped by class
  std::vector<int64_t> real_per_class, synthetic_per_class;
  std::vector<int64_t> synthetic_distinct_per_class;  // distinct synthetic images behind synthetic_per_class
  int64_t real_count() const { return std::accumulate(real_per_class.begin(), real_per_class.end(), int64_t(0)); }
  int64_t synthetic_count() const {
    return std::accumulate(synthetic_per_class.begin(), synthetic_per_class.end(), int64_t(0));
  }
};

namespace mixing_detail {

inline std::vector<std::vector<int64_t>> by_class(const std::vector<int32_t>& labels, size_t num_classes,
                                                  const char* pool) {
  std::vector<std::vector<int64_t>> idx(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    FER_CHECK(labels[i] >= 0 && size_t(labels[i]) < num_classes, "mix: ", pool, " image ", i, " has label ",
              labels[i], " outside 0..", num_classes - 1);
    idx[size_t(labels[i])].push_back(int64_t(i));
  }
  return idx;
}

// Fisher-Yates with fer's generator: the same seed gives the same mix on every machine.
inline void shuffle(std::vector<int64_t>& v, Generator& gen) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(gen.below(i))]);
}

// Integer shares of `total` proportional to `weights`, largest remainder first (ties: lower class first).
inline std::vector<int64_t> apportion(const std::vector<double>& exact) {
  std::vector<int64_t> out(exact.size());
  double sum = 0;
  int64_t floors = 0;
  for (size_t c = 0; c < exact.size(); ++c) out[c] = int64_t(std::floor(exact[c])), floors += out[c], sum += exact[c];
  int64_t target = int64_t(std::llround(sum));
  std::vector<size_t> order(exact.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return exact[a] - std::floor(exact[a]) > exact[b] - std::floor(exact[b]);
  });
  for (size_t k = 0; floors < target && k < order.size(); ++k, ++floors) ++out[order[k]];
  return out;
}

}  // namespace mixing_detail

inline Mix make_mix(const std::vector<int32_t>& real_labels, const std::vector<int32_t>& synthetic_labels,
                    size_t num_classes, const MixOptions& opt) {
  using namespace mixing_detail;
  FER_CHECK(opt.real_ratio >= 0 && opt.real_ratio <= 1, "mix: real ratio ", opt.real_ratio, " is not in [0, 1]");
  FER_CHECK(opt.synthetic_multiple >= 0, "mix: synthetic multiple ", opt.synthetic_multiple, " is negative");
  auto real = by_class(real_labels, num_classes, "real");
  auto synth = by_class(synthetic_labels, num_classes, "synthetic");
  std::vector<double> real_exact(num_classes), synth_exact(num_classes);
  for (size_t c = 0; c < num_classes; ++c) {
    double nc = double(real[c].size());
    if (opt.mode == MixOptions::Mode::fixed_total) real_exact[c] = opt.real_ratio * nc;
    else real_exact[c] = nc, synth_exact[c] = opt.synthetic_multiple * nc;
  }
  Mix mix;
  mix.real_per_class = apportion(real_exact);
  if (opt.mode == MixOptions::Mode::fixed_total) {
    mix.synthetic_per_class.resize(num_classes);
    for (size_t c = 0; c < num_classes; ++c) mix.synthetic_per_class[c] = int64_t(real[c].size()) - mix.real_per_class[c];
  } else {
    mix.synthetic_per_class = apportion(synth_exact);
  }
  Generator gen(opt.seed);
  mix.synthetic_distinct_per_class.assign(num_classes, 0);
  for (size_t c = 0; c < num_classes; ++c) {
    shuffle(real[c], gen);
    for (int64_t k = 0; k < mix.real_per_class[c]; ++k) mix.items.push_back({false, real[c][size_t(k)], int32_t(c)});
    int64_t want = mix.synthetic_per_class[c], have = int64_t(synth[c].size());
    if (want == 0) continue;
    FER_CHECK(have > 0, "mix: class ", c, " needs ", want, " synthetic images but the synthetic set has none");
    FER_CHECK(want <= have || opt.allow_repeats, "mix: class ", c, " needs ", want, " synthetic images but the synthetic set has ",
              have, " (generate more, or allow repeats)");
    shuffle(synth[c], gen);
    for (int64_t k = 0; k < want; ++k) mix.items.push_back({true, synth[c][size_t(k % have)], int32_t(c), int32_t(k / have)});
    mix.synthetic_distinct_per_class[c] = std::min(want, have);
  }
  return mix;
}

// "synthetic images repeated to fill the ratio: happy 40 drawn from 10 (up to 4x), ..." or "" when none was.
inline std::string repeat_summary(const Mix& mix, const std::vector<std::string>& class_names) {
  std::string s;
  for (size_t c = 0; c < mix.synthetic_per_class.size() && c < mix.synthetic_distinct_per_class.size(); ++c) {
    int64_t want = mix.synthetic_per_class[c], have = mix.synthetic_distinct_per_class[c];
    if (want <= have) continue;
    s += (s.empty() ? "" : ", ") + (c < class_names.size() ? class_names[c] : std::to_string(c)) + " " +
         std::to_string(want) + " drawn from " + std::to_string(have) + " (up to " + std::to_string((want + have - 1) / have) + "x)";
  }
  return s.empty() ? s : "synthetic images repeated to fill the ratio: " + s;
}

// Writes the manifest CSV (source,id,label,class,repeat) atomically.
inline void write_mix_manifest(const std::filesystem::path& path, const Mix& mix, const std::vector<std::string>& real_ids,
                               const std::vector<std::string>& synthetic_ids,
                               const std::vector<std::string>& class_names) {
  std::string csv = "source,id,label,class,repeat\n";
  for (const MixItem& it : mix.items) {
    const auto& ids = it.synthetic ? synthetic_ids : real_ids;
    FER_CHECK(it.index >= 0 && size_t(it.index) < ids.size(), path.string(), ": mix item refers to ",
              it.synthetic ? "synthetic" : "real", " image ", it.index, " of ", ids.size());
    FER_CHECK(it.label >= 0 && size_t(it.label) < class_names.size(), path.string(), ": label ", it.label, " has no class name");
    csv += std::string(it.synthetic ? "synthetic" : "real") + ',' + ids[size_t(it.index)] + ',' + std::to_string(it.label) +
           ',' + class_names[size_t(it.label)] + ',' + std::to_string(it.repeat) + '\n';
  }
  io::write_file_atomically(path, csv);
}

}  // namespace fer::data
