#pragma once
// One report from several sweep directories (shards, or the same study run again with more seeds). Only sweeps
// made with the same settings merge (their sweep.json settings fingerprints agree; the plan's axes may differ),
// and a run id may appear in only one of them: a second copy would count as an extra seed and shrink the
// confidence interval to nothing. Failed runs of every directory are carried into the report.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/sweep/report.hpp"
#include "fer/sweep/study_info.hpp"

namespace fer::sweep {

struct MergedSweeps {
  std::vector<RunResult> results;  // sorted by run id
  std::vector<std::string> models;
  std::vector<double> ratios;
  int64_t num_classes = 0;
  StudyInfo info;
};

MergedSweeps merge_sweeps(const std::vector<std::filesystem::path>& dirs);

}  // namespace fer::sweep
