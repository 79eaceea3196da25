// The functions declared in sweep/plan.hpp: compiled once here rather than in every program that includes the header.
#include "fer/sweep/plan.hpp"

namespace fer::sweep {

std::string subset_fraction_label(const std::string& spec) {
  std::string out;
  for (char c : spec) {
    if (c == ':' || c == ' ') continue;
    out += c == '=' || c == ',' ? '-' : std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ? c : '_';
  }
  return out;
}

std::vector<RunSpec> plan_runs(const std::vector<std::string>& models, const std::vector<double>& ratios,
                               const std::vector<uint64_t>& seeds,
                               const std::vector<std::string>& subset_fractions) {
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

Shard parse_shard(const std::string& s) {
  Shard sh;
  char extra = 0;
  long long i = -1, n = -1;
  FER_CHECK(std::sscanf(s.c_str(), "%lld/%lld%c", &i, &n, &extra) == 2 && n >= 1 && i >= 0 && i < n,
            "--shard '", s, "': expected i/n with 0 <= i < n (e.g. 0/4)");
  sh.index = i, sh.count = n;
  return sh;
}

std::vector<RunSpec> shard_runs(const std::vector<RunSpec>& runs, const Shard& sh) {
  std::vector<RunSpec> out;
  for (const RunSpec& r : runs)
    if (r.index % sh.count == sh.index) out.push_back(r);
  return out;
}

}  // namespace fer::sweep
