#pragma once
// What a training run returns, and `fit` for every nn::Layer: the declaration that callers of the compiled loop need
// (kernels/cpu/train/fit.cpp), without the loop and its pieces (train/trainer.hpp), so that editing the loop
// recompiles the loop only.
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace fer::nn {
class Layer;
}
namespace fer::data {
class ImageSet;
struct Preprocess;
}  // namespace fer::data

namespace fer::train {

struct TrainConfig;

struct FitResult {
  int64_t epochs_run = 0, best_epoch = -1;
  double best_val_f1 = NAN;
  double train_seconds = 0, images_per_second = 0;
  bool stopped_early = false;
  bool interrupted = false;  // stopped by cfg.interrupted: no final evaluation, no metrics.json
  bool already_finished = false;  // the run directory held this run finished: nothing was trained or written
  nlohmann::json metrics;    // what metrics.json holds
};

// Trains `model` on `train_set`, validating on `val_set` each epoch and testing the best checkpoint on `test_set`
// at the end (either may be null). Writes everything into cfg.out.
// Every nn::Layer trains through the one instantiation compiled into the library (kernels/cpu/train/fit.cpp), so a
// program that trains does not compile the loop and all its pieces again; other model types use train/trainer.hpp.
FitResult fit(nn::Layer& model, const data::ImageSet& train_set, const data::ImageSet* val_set,
              const data::ImageSet* test_set, const data::Preprocess& train_pp, const data::Preprocess& eval_pp,
              const TrainConfig& cfg, const nlohmann::json& run_info = {});

}  // namespace fer::train
