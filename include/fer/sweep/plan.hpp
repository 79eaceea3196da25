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
std::string subset_fraction_label(const std::string& spec);

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
    std::string id = model + buf;
    if (!subset_fraction.empty()) id.append("-").append(subset_fraction_label(subset_fraction));
    return id;
  }
};

std::vector<RunSpec> plan_runs(const std::vector<std::string>& models, const std::vector<double>& ratios,
                               const std::vector<uint64_t>& seeds,
                               const std::vector<std::string>& subset_fractions = {""});

struct Shard {
  int64_t index = 0, count = 1;  // shard i of n, 0-based
};

// Parses "i/n" with 0 <= i < n.
Shard parse_shard(const std::string& s);

// Round-robin: run k belongs to shard k mod n, so shards get similar mixes of models and ratios.
std::vector<RunSpec> shard_runs(const std::vector<RunSpec>& runs, const Shard& sh);

}  // namespace fer::sweep
