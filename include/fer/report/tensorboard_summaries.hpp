#pragma once
// What a finished run adds to its TensorBoard events (train::fit calls these at the end of a run):
//   scalars  test/accuracy, test/macro_f1, test/balanced_accuracy, test/auroc_macro, test/ece, test/loss
//   images   test/confusion_matrix and test/reliability (the run's PNGs), and test/faces/<k>_<true>_as_<predicted>:
//            the first few test images as the model saw them before resizing
//   hparams  the run's hyper-parameters (the training configuration and the run's scalar facts: model, ratio, ...)
//            with the test metrics above as the HParams dashboard's metric columns
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "fer/core/error.hpp"
#include "fer/data/image_set.hpp"
#include "fer/io/image.hpp"
#include "fer/metrics/classification.hpp"
#include "fer/report/tensorboard.hpp"

namespace fer::report {

using io::encode_png;

struct PngHeader {
  int64_t width = 0, height = 0, colorspace = 0;  // TensorBoard's colorspace: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
};

// Size and colorspace from a PNG's IHDR chunk (the signature, then length, "IHDR", width, height, depth, color type).
PngHeader png_header(const std::string& png, const std::string& name);

void image_summary_from_png_file(EventWriter& tb, const std::string& tag, const std::filesystem::path& path, int64_t step);

// The scalar tags the test metrics are written under (also the HParams dashboard's metric columns).
std::vector<HParamsMetric> test_metric_tags();

// Test metrics, the confusion matrix and reliability PNGs found in `dir`, and the first `faces` test images with
// their true and predicted classes in the tag.
void write_test_summaries(EventWriter& tb, const data::ImageSet& test_set, const metrics::ClassificationReport& r,
                          double loss, std::span<const double> probs, const std::filesystem::path& dir,
                          int64_t step, int64_t faces = 6);

// Hyper-parameters of a run: the training configuration's fields (any config type with these members) and the
// scalar entries of `run_info` (numbers, strings, booleans; objects, arrays and nulls are left out).
template <class Config>
std::map<std::string, HParamValue> run_hparams(const Config& cfg, const nlohmann::json& run_info) {
  std::map<std::string, HParamValue> h;
  for (const auto& [key, v] : run_info.items()) {
    if (v.is_boolean()) h[key] = v.template get<bool>();
    else if (v.is_number()) h[key] = v.template get<double>();
    else if (v.is_string()) h[key] = v.template get<std::string>();
  }
  h["epochs"] = double(cfg.epochs), h["batch_size"] = double(cfg.batch_size), h["seed"] = double(cfg.seed);
  h["optimizer"] = cfg.optimizer, h["lr"] = cfg.lr, h["weight_decay"] = cfg.weight_decay, h["momentum"] = cfg.momentum;
  h["schedule"] = cfg.schedule, h["warmup_epochs"] = double(cfg.warmup_epochs), h["label_smoothing"] = cfg.label_smoothing;
  h["sam_rho"] = cfg.sam_rho, h["grad_clip"] = cfg.grad_clip, h["patience"] = double(cfg.patience);
  h["class_weights"] = cfg.class_weights, h["balanced_sampler"] = cfg.balanced_sampler, h["amp"] = cfg.amp;
  return h;
}

// The hparams plugin's records for a finished run; the session is named after run_info["run"] or the directory.
template <class Config>
void write_run_hparams(EventWriter& tb, const Config& cfg, const nlohmann::json& run_info) {
  std::string group = run_info.contains("run") && run_info["run"].is_string() ? run_info["run"].template get<std::string>()
                                                                              : cfg.out.filename().string();
  tb.hparams(run_hparams(cfg, run_info), test_metric_tags(), group);
}

}  // namespace fer::report
