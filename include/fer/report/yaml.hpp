#pragma once
// JSON documents as YAML (metrics.yaml, summary.yaml) through yaml-cpp.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace fer::report {

inline YAML::Node to_yaml(const nlohmann::json& j) {
  YAML::Node n;
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) n[k] = to_yaml(v);
  } else if (j.is_array()) {
    for (const auto& v : j) n.push_back(to_yaml(v));
  } else if (j.is_string()) {
    n = j.get<std::string>();
  } else if (j.is_boolean()) {
    n = j.get<bool>();
  } else if (j.is_number_integer()) {
    n = j.get<int64_t>();
  } else if (j.is_number()) {
    n = j.get<double>();
  } else {
    n = YAML::Node(YAML::NodeType::Null);
  }
  return n;
}

}  // namespace fer::report
