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

void write_study_file(const std::filesystem::path& path, const StudyInfo& s);

StudyInfo read_study_file(const std::filesystem::path& path);

// "lr (0.001 vs 0.01), epochs (30 vs 2)": the settings in which two studies differ.
std::string settings_difference(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace fer::sweep
