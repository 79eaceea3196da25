#pragma once
// The sweep report, built from the run directories alone (so shards merge by pointing it at all of them):
//   summary.json / summary.yaml   every run's test metrics, per (model, ratio) mean and 95% CI over seeds, and the
//                                 paired-bootstrap significance of macro-F1 differences
//   summary.md                    the study's tables (Accuracy, F1, AUROC, Precision, Recall: model x ratio)
//   {acc,f1,recall,auroc}_vs_realrate.png   one line per model, error bars when there are several seeds
//   index.html                    the study (data, generator, settings, fer version, notes, failed runs), the
//                                 significance tables, and every run with its confusion matrix, reliability
//                                 diagram, curves and timing
// Run ids must be unique: a run that appears twice would count as an extra seed and fake a confidence interval.
//
// A run directory holds metrics.json ({"test": {"accuracy", "macro_f1", "auroc_macro", "macro_precision",
// "macro_recall", ...}, "wall_seconds", "images_per_second", ...}) and predictions.csv (id,true,predicted,p_0..).

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/report/plot.hpp"
#include "fer/report/yaml.hpp"
#include "fer/sweep/plan.hpp"
#include "fer/sweep/statistics.hpp"
#include "fer/sweep/study_info.hpp"

namespace fer::sweep {

struct RunResult {
  RunSpec spec;
  std::filesystem::path dir;
  nlohmann::json metrics;           // the run's metrics.json
  std::vector<int32_t> y, pred;     // test labels and predictions (from predictions.csv; empty if absent)
};

struct MetricSpec {
  const char* key;    // in metrics.json["test"]
  const char* title;  // table / plot title
  const char* plot;   // file name of its plot, or nullptr
};

const std::vector<MetricSpec>& report_metrics();

// Reads predictions.csv: id,true,predicted,...
void read_predictions(const std::filesystem::path& path, std::vector<int32_t>& y, std::vector<int32_t>& pred);

// Loads what a run left in `dir`; returns false when the run has no metrics.json (not finished).
bool load_run_result(const std::filesystem::path& dir, const RunSpec& spec, RunResult& out);

namespace report_detail {

std::string fmt(double v, int digits = 4);
std::string ratio_label(double r);

std::string html_escape(const std::string& s);

// A setting's value as text (strings without quotes).
std::string setting_text(const nlohmann::json& v);

double metric_of(const RunResult& r, const char* key);

}  // namespace report_detail

// Writes the report into `out_dir`. `models` and `ratios` fix the row/column order.
nlohmann::json write_sweep_report(const std::filesystem::path& out_dir, const std::vector<RunResult>& results,
                                  const std::vector<std::string>& models, const std::vector<double>& ratios,
                                  int num_classes, const StudyInfo& info, int64_t bootstrap_resamples = 1000);

}  // namespace fer::sweep
