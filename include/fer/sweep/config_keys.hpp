#pragma once
// Unknown keys in a configuration file are an error, not silently ignored settings: a typo such as `ratio:` for
// `ratios:` would otherwise run the default study. The message names the nearest valid key (Levenshtein distance).
#include <algorithm>
#include <string>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::sweep {

// Levenshtein distance (insertions, deletions and substitutions cost 1).
size_t edit_distance(const std::string& a, const std::string& b);

// The valid key closest to `key` (the first of equally close ones).
std::string nearest_key(const std::string& key, const std::vector<std::string>& valid);

// Fails on the first key of `present` that is not in `valid`: "<where>: unknown key 'ratio' (did you mean 'ratios'?)".
void check_keys(const std::vector<std::string>& present, const std::vector<std::string>& valid, const std::string& where);

}  // namespace fer::sweep
