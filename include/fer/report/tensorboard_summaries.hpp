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
inline PngHeader png_header(const std::string& png, const std::string& name) {
  static const char signature[] = "\x89PNG\r\n\x1a\n";
  FER_CHECK(png.size() >= 33 && png.compare(0, 8, std::string(signature, 8)) == 0 && png.compare(12, 4, "IHDR") == 0,
            name, ": not a PNG file");
  auto be32 = [&](size_t at) {
    return (int64_t(uint8_t(png[at])) << 24) | (int64_t(uint8_t(png[at + 1])) << 16) | (int64_t(uint8_t(png[at + 2])) << 8) |
           int64_t(uint8_t(png[at + 3]));
  };
  PngHeader h;
  h.width = be32(16), h.height = be32(20);
  switch (uint8_t(png[25])) {
    case 0: h.colorspace = 1; break;  // gray
    case 4: h.colorspace = 2; break;  // gray + alpha
    case 2: h.colorspace = 3; break;  // RGB
    case 6: h.colorspace = 4; break;  // RGBA
    default: fail(name, ": PNG color type ", int(uint8_t(png[25])), " (palette) is not one TensorBoard images take");
  }
  return h;
}

inline void image_summary_from_png_file(EventWriter& tb, const std::string& tag, const std::filesystem::path& path, int64_t step) {
  std::vector<uint8_t> bytes = io::read_bytes(path);
  std::string png(bytes.begin(), bytes.end());
  PngHeader h = png_header(png, path.string());
  tb.image(tag, h.height, h.width, h.colorspace, png, step);
}

// The scalar tags the test metrics are written under (also the HParams dashboard's metric columns).
inline std::vector<HParamsMetric> test_metric_tags() {
  return {{"test/accuracy"}, {"test/macro_f1"}, {"test/balanced_accuracy"}, {"test/auroc_macro"}, {"test/ece"}, {"test/loss"}};
}

// Test metrics, the confusion matrix and reliability PNGs found in `dir`, and the first `faces` test images with
// their true and predicted classes in the tag.
inline void write_test_summaries(EventWriter& tb, const data::ImageSet& test_set, const metrics::ClassificationReport& r,
                                 double loss, std::span<const double> probs, const std::filesystem::path& dir,
                                 int64_t step, int64_t faces = 6) {
  const double values[] = {r.accuracy, r.macro_f1, r.balanced_accuracy, r.auroc_macro, r.ece, loss};
  auto tags = test_metric_tags();
  for (size_t k = 0; k < tags.size(); ++k)
    if (std::isfinite(values[k])) tb.scalar(tags[k].tag, values[k], step);
  for (const char* name : {"confusion_matrix", "reliability"})
    if (std::filesystem::exists(dir / (std::string(name) + ".png")))
      image_summary_from_png_file(tb, std::string("test/") + name, dir / (std::string(name) + ".png"), step);
  const int64_t c = test_set.num_classes();
  for (int64_t i = 0; i < std::min(faces, test_set.size()); ++i) {
    io::Image img = test_set.raw(i);
    int32_t truth = test_set.label(i), pred = metrics::argmax_row(probs.data() + i * c, c);
    auto cls = [&](int32_t k) {  // '/' would nest TensorBoard's tag groups ("T-shirt/top")
      std::string n = k >= 0 && k < c ? test_set.class_names()[size_t(k)] : std::to_string(k);
      for (char& ch : n)
        if (ch == '/' || ch == ' ') ch = '_';
      return n;
    };
    tb.image("test/faces/" + std::to_string(i) + "_" + cls(truth) + "_as_" + cls(pred), img.height, img.width, img.channels,
             encode_png(img), step);
  }
}

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
