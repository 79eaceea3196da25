#pragma once
// The runs of a sweep: models x real-data ratios x seeds in a fixed order, each with a stable id and directory
// name, and the deterministic subset a shard i/n executes.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::sweep {

struct RunSpec {
  std::string model;
  double real_ratio = 1.0;
  uint64_t seed = 0;
  int64_t index = 0;  // position in the full plan

  // "resnet18-r0.30-s1": sortable, filesystem-safe, unique within a sweep.
  std::string id() const {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "-r%.2f-s%llu", real_ratio, (unsigned long long)seed);
    return model + buf;
  }
};

inline std::vector<RunSpec> plan_runs(const std::vector<std::string>& models, const std::vector<double>& ratios,
                                      const std::vector<uint64_t>& seeds) {
  FER_CHECK(!models.empty() && !ratios.empty() && !seeds.empty(), "sweep: models, ratios and seeds must be non-empty");
  std::vector<RunSpec> runs;
  for (const auto& m : models)
    for (double r : ratios) {
      FER_CHECK(r >= 0 && r <= 1, "sweep: real-data ratio ", r, " is not in [0, 1]");
      for (uint64_t s : seeds) runs.push_back({m, r, s, int64_t(runs.size())});
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
