// The functions declared in sweep/study_info.hpp: compiled once here rather than in every program that includes the header.
#include "fer/sweep/study_info.hpp"
#include "fer/io/json_text.hpp"

namespace fer::sweep {

void write_study_file(const std::filesystem::path& path, const StudyInfo& s) {
  nlohmann::json j = {{"data", s.data}, {"synthetic", s.synthetic}, {"fer_version", s.fer_version},
                      {"settings_fingerprint", s.settings_fingerprint}, {"settings", s.settings}, {"notes", s.notes}};
  io::write_file_atomically(path, fer::io::dump_json(j, 2) + "\n");
}

StudyInfo read_study_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  FER_CHECK(in.good(), path.string(), ": cannot open (a sweep directory of this fer has sweep.json)");
  StudyInfo s;
  try {
    nlohmann::json j = fer::io::parse_json(in);
    s.data = j.at("data").get<std::string>();
    s.synthetic = j.at("synthetic").get<std::string>();
    s.fer_version = j.at("fer_version").get<std::string>();
    s.settings_fingerprint = j.at("settings_fingerprint").get<std::string>();
    s.settings = j.at("settings");
    s.notes = j.at("notes").get<std::vector<std::string>>();
    FER_CHECK(s.settings.is_object(), "settings is not an object");
  } catch (const std::exception& e) {
    fail(path.string(), ": not a sweep study file (", e.what(), ")");
  }
  return s;
}

std::string settings_difference(const nlohmann::json& a, const nlohmann::json& b) {
  std::string out;
  auto add = [&](const std::string& k, const nlohmann::json* x, const nlohmann::json* y) {
    out += (out.empty() ? "" : ", ") + k + " (" + (x ? x->dump() : "absent") + " vs " + (y ? y->dump() : "absent") + ")";
  };
  for (const auto& [k, v] : a.items())
    if (!b.contains(k)) add(k, &v, nullptr);
    else if (b.at(k) != v) add(k, &v, &b.at(k));
  for (const auto& [k, v] : b.items())
    if (!a.contains(k)) add(k, nullptr, &v);
  return out;
}

}  // namespace fer::sweep
