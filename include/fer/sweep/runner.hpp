#pragma once
// One (model, real ratio, seed) run of the study: the real/synthetic mix (manifest written), the model from the
// program's factory (train/model_factory.hpp), training with validation, test metrics of the best checkpoint, all in the run's directory, which
// describes itself in config.json (train/run_config.hpp).
//
// An existing run directory is never reused silently: it is resumed only when its config.json has the same settings
// fingerprint (otherwise the error names every differing setting); a finished one is reported and left untouched;
// with `force_new` the old directory is kept under a new name (DIR.replaced-<UTC time>) and the run starts afresh.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/data/image_set.hpp"
#include "fer/data/mixing.hpp"
#include "fer/sweep/plan.hpp"
#include "fer/train/fit.hpp"
#include "fer/train/model_factory.hpp"
#include "fer/train/train_config.hpp"

namespace fer::sweep {

struct StudyData {
  std::shared_ptr<data::ImageSet> real_train, val, test;
  std::shared_ptr<data::ImageSet> synthetic;  // may be empty (then only r = 1 runs are possible)
  std::string description;
};

struct RunSettings {
  train::TrainConfig train;          // out/seed/resume are set per run
  int64_t input_size = 64;
  bool augment = true;
  bool light_augment = false;  // flip + padded crop only
  data::AutoAugmentKind auto_augment = data::AutoAugmentKind::none;  // a torchvision policy + the light recipe
  bool imagenet_norm = false;
  data::MixOptions::Mode mix_mode = data::MixOptions::Mode::fixed_total;
  double synthetic_multiple = 1.0;
  bool allow_repeats = true;
  int64_t hidden_head = 0;  // > 0: the reference's transfer head (classifier -> hidden, ReLU, Dropout, Linear)
  double head_dropout = 0.5;  // the hidden head's dropout
  nlohmann::json data_info = nlohmann::json::object();  // the caller's data flags and source files, for config.json
  bool force_new = false;  // an existing run directory is renamed aside instead of resumed
  std::string pretrained;  // a state dict (safetensors or PyTorch .pt/.pth; torchvision/timm names) loaded before
                           // training; only the head may be absent or of another size (re-initialized, reported)
  double drop_path = -1;   // >= 0: stochastic depth rate (models::set_drop_path); < 0: the model's default
};

// Trains `run` in `dir` with a model that `make_model` builds (kernels/cpu/sweep/runner.cpp).
train::FitResult run_one(const RunSpec& run, const StudyData& d, const RunSettings& s, const std::filesystem::path& dir,
                         const train::ModelFactory& make_model);

}  // namespace fer::sweep
