// JSON to YAML through yaml-cpp (report/yaml.hpp).
#include "fer/report/yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <nlohmann/json.hpp>

#include "fer/io/atomic_file.hpp"

namespace fer::report {

namespace {

YAML::Node to_yaml_node(const nlohmann::json& j) {
  YAML::Node n;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) n[it.key()] = to_yaml_node(it.value());
  } else if (j.is_array()) {
    for (const auto& v : j) n.push_back(to_yaml_node(v));
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

}  // namespace

std::string to_yaml_text(const nlohmann::json& j) {
  YAML::Emitter emitter;
  emitter << to_yaml_node(j);
  return std::string(emitter.c_str()) + "\n";
}

void write_yaml_file(const std::filesystem::path& path, const nlohmann::json& j) {
  io::write_file_atomically(path, to_yaml_text(j));
}

}  // namespace fer::report
