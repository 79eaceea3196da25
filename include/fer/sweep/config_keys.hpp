#pragma once
// Unknown keys in a configuration file are an error, not silently ignored settings: a typo such as `ratio:` for
// `ratios:` would otherwise run the default study. The message names the nearest valid key (Levenshtein distance).
#include <algorithm>
#include <string>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::sweep {

// Levenshtein distance (insertions, deletions and substitutions cost 1).
inline size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The valid key closest to `key` (the first of equally close ones).
inline std::string nearest_key(const std::string& key, const std::vector<std::string>& valid) {
  std::string best;
  size_t best_d = size_t(-1);
  for (const auto& v : valid) {
    size_t d = edit_distance(key, v);
    if (d < best_d) best_d = d, best = v;
  }
  return best;
}

// Fails on the first key of `present` that is not in `valid`: "<where>: unknown key 'ratio' (did you mean 'ratios'?)".
inline void check_keys(const std::vector<std::string>& present, const std::vector<std::string>& valid, const std::string& where) {
  for (const auto& k : present) {
    if (std::find(valid.begin(), valid.end(), k) != valid.end()) continue;
    std::string list;
    for (const auto& v : valid) list += (list.empty() ? "" : ", ") + v;
    fail(where, ": unknown key '", k, "' (did you mean '", nearest_key(k, valid), "'?); valid keys: ", list);
  }
}

}  // namespace fer::sweep
