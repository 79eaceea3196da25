#pragma once
// JSON documents as YAML for people (metrics.yaml, summary.yaml, config.yaml; programs read the JSON twin).
// yaml-cpp is compiled into kernels/cpu/report/yaml.cpp only.
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace fer::report {

// `j` as one YAML document in block style, ending in a newline.
std::string to_yaml_text(const nlohmann::json& j);

// to_yaml_text(j) written atomically to `path`.
void write_yaml_file(const std::filesystem::path& path, const nlohmann::json& j);

}  // namespace fer::report
