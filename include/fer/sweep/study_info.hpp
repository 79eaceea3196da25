#pragma once
// How a sweep was made: the real data, the synthetic source, every setting that shapes the results with their
// fingerprint, the fer version and notes about the data (e.g. the test set is the source's validation split).
// train_sweep writes it as <out>/sweep.json when it starts; the report states it, and --merge compares it.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/io/atomic_file.hpp"

namespace fer::sweep {

struct StudyInfo {
  std::string data;                 // the real data: source, layout, splits
  std::string synthetic;            // the synthetic source (an image folder or generator:G.pkl), "" for none
  std::string fer_version;          // git describe of the fer that ran it
  std::string settings_fingerprint; // of `settings` without the plan's axes (models, ratios, seeds)
  nlohmann::json settings = nlohmann::json::object();  // every setting that shapes the results
  std::vector<std::string> notes;   // what a reader must know about the data
  struct FailedRun {
    std::string id, error;
  };
  std::vector<FailedRun> failed;    // runs of the plan that failed (not in the tables); not stored in sweep.json
};

inline void write_study_file(const std::filesystem::path& path, const StudyInfo& s) {
  nlohmann::json j = {{"data", s.data}, {"synthetic", s.synthetic}, {"fer_version", s.fer_version},
                      {"settings_fingerprint", s.settings_fingerprint}, {"settings", s.settings}, {"notes", s.notes}};
  io::write_file_atomically(path, j.dump(2) + "\n");
}

inline StudyInfo read_study_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  FER_CHECK(in.good(), path.string(), ": cannot open (a sweep directory of this fer has sweep.json)");
  StudyInfo s;
  try {
    nlohmann::json j = nlohmann::json::parse(in);
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

// "lr (0.001 vs 0.01), epochs (30 vs 2)": the settings in which two studies differ.
inline std::string settings_difference(const nlohmann::json& a, const nlohmann::json& b) {
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
