#pragma once
// The runs of a sweep: models x real-data ratios x seeds in a fixed order, each with a stable id and directory
// name, and the deterministic subset a shard i/n executes.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::sweep {

// A --subset_fraction spec as a run-id part: "gender=female:1.0,male:0.75" -> "gender-female1.0-male0.75".
inline std::string subset_fraction_label(const std::string& spec) {
  std::string out;
  for (char c : spec) {
    if (c == ':' || c == ' ') continue;
    out += c == '=' || c == ',' ? '-' : std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ? c : '_';
  }
  return out;
}

struct RunSpec {
  std::string model;
  double real_ratio = 1.0;
  uint64_t seed = 0;
  int64_t index = 0;            // position in the full plan
  std::string subset_fraction;  // empty, or a --subset_fraction spec (data/subsets.hpp): a sweep axis of its own

  // "resnet18-r0.30-s1" (+ "-gender-female1.0-male0.75"): sortable, filesystem-safe, unique within a sweep.
  std::string id() const {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "-r%.2f-s%llu", real_ratio, (unsigned long long)seed);
    return model + buf + (subset_fraction.empty() ? "" : "-" + subset_fraction_label(subset_fraction));
  }
};

inline std::vector<RunSpec> plan_runs(const std::vector<std::string>& models, const std::vector<double>& ratios,
                                      const std::vector<uint64_t>& seeds,
                                      const std::vector<std::string>& subset_fractions = {""}) {
  FER_CHECK(!models.empty() && !ratios.empty() && !seeds.empty() && !subset_fractions.empty(),
            "sweep: models, ratios, seeds and subset fractions must be non-empty");
  std::vector<RunSpec> runs;
  for (const auto& m : models)
    for (double r : ratios) {
      FER_CHECK(r >= 0 && r <= 1, "sweep: real-data ratio ", r, " is not in [0, 1]");
      for (const auto& f : subset_fractions)
        for (uint64_t s : seeds) runs.push_back({m, r, s, int64_t(runs.size()), f});
    }
  for (size_t i = 0; i < runs.size(); ++i)
    for (size_t j = i + 1; j < runs.size(); ++j)
      FER_CHECK(runs[i].id() != runs[j].id(), "sweep: run ", runs[i].id(), " appears twice (duplicate model, ratio or seed)");
  return runs;
}

struct Shard {
  int64_t index = 0, count = 1;  // shard i of n, 0-based
};

// Parses "i/n" with 0 <= i < n.
inline Shard parse_shard(const std::string& s) {
  Shard sh;
  char extra = 0;
  long long i = -1, n = -1;
  FER_CHECK(std::sscanf(s.c_str(), "%lld/%lld%c", &i, &n, &extra) == 2 && n >= 1 && i >= 0 && i < n,
            "--shard '", s, "': expected i/n with 0 <= i < n (e.g. 0/4)");
  sh.index = i, sh.count = n;
  return sh;
}

// Round-robin: run k belongs to shard k mod n, so shards get similar mixes of models and ratios.
inline std::vector<RunSpec> shard_runs(const std::vector<RunSpec>& runs, const Shard& sh) {
  std::vector<RunSpec> out;
  for (const RunSpec& r : runs)
    if (r.index % sh.count == sh.index) out.push_back(r);
  return out;
}

}  // namespace fer::sweep
