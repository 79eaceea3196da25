#pragma once
// The training loop: epochs of training then validation, checkpoints (best by validation macro-F1, and last),
// resumable to the bit on the CPU, NaN/Inf detection that stops with a clear message keeping the last good
// checkpoint, early stopping, and the run outputs: metrics.json, log.csv, TensorBoard events, confusion_matrix.png,
// reliability.png, curves.png, predictions.csv. Its pieces, one per header:
//   train_step.hpp       one optimization step (AMP in mixed_precision.hpp and SAM in sam.hpp are its variants)
//   train_epoch.hpp      an epoch of steps over the sampled, prefetched batches
//   evaluate.hpp         validation and test passes
//   run_checkpoints.hpp  the run's progress, its checkpoints and resuming from them
//   recorder.hpp         log.csv, TensorBoard, plots, metrics.json
// with the settings in train_config.hpp and the optimizer and schedule they build in optimizer_setup.hpp.
//
// A model is any nn::Module with `Tensor forward(const Tensor& x)` taking NHWC images and giving logits [N, C].
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "fer/core/device.hpp"
#include "fer/data/image_set.hpp"
#include "fer/nn/layers.hpp"
#include "fer/train/eval_outputs.hpp"
#include "fer/train/fit.hpp"
#include "fer/train/evaluate.hpp"
#include "fer/train/optimizer_setup.hpp"
#include "fer/train/recorder.hpp"
#include "fer/train/run_checkpoints.hpp"
#include "fer/train/train_config.hpp"
#include "fer/train/train_epoch.hpp"
#include "fer/train/train_step.hpp"

namespace fer::train {

// Settings fit refuses before it trains; creates cfg.out.
inline void prepare_fit(const data::ImageSet& train_set, const TrainConfig& cfg) {
  FER_CHECK(train_set.size() > 0 || cfg.epochs == 0, "train: empty training set");
  FER_CHECK(cfg.batch_size >= 1, "train: batch size must be >= 1");
  std::filesystem::create_directories(cfg.out);
  if (cfg.device.is_cuda()) {
    FER_CHECK(built_with_cuda(), "train: --device cuda needs a build with the CUDA backend");
    FER_CHECK(cuda_device_available(), "train: --device cuda but no CUDA device is available");
  }
  FER_CHECK(cfg.amp == "off" || cfg.amp == "bf16" || cfg.amp == "fp16", "train: --amp must be off, bf16 or fp16, got '",
            cfg.amp, "'");
  FER_CHECK(cfg.amp == "off" || cfg.device.is_cuda(), "train: --amp ", cfg.amp,
            " needs --device cuda (the CPU backend computes in f32/f64 only)");
  FER_CHECK(!(cfg.amp == "fp16" && cfg.sam_rho > 0), "train: SAM with --amp fp16 is not supported (use --amp bf16)");
}

// What the epochs recorded in `p` come to (metrics aside).
inline FitResult fit_result(const RunProgress& p, bool stopped_early) {
  FitResult r;
  r.epochs_run = p.epochs, r.best_epoch = p.best_epoch, r.best_val_f1 = p.best_val_f1;
  r.train_seconds = p.train_seconds, r.images_per_second = p.images_per_second();
  r.stopped_early = stopped_early;
  return r;
}

// Stopped between batches: the epochs finished by this call, and no images/s (no final evaluation either).
inline FitResult interrupted_result(const RunProgress& p, int64_t start_epoch) {
  FitResult r = fit_result(p, false);
  r.epochs_run = p.epochs > start_epoch ? p.epochs : 0;
  r.images_per_second = 0;
  r.interrupted = true;
  return r;
}

// The loop behind `fit`, for any model type.
template <class Model>
FitResult fit_loop(Model& model, const data::ImageSet& train_set, const data::ImageSet* val_set,
                   const data::ImageSet* test_set, const data::Preprocess& train_pp, const data::Preprocess& eval_pp,
                   const TrainConfig& cfg, const nlohmann::json& run_info) {
  prepare_fit(train_set, cfg);
  model.to(cfg.device);  // before the optimizer, which holds the parameters
  const int64_t batches = batches_per_epoch(train_set.size(), cfg), eval_batch = cfg.batch_size * 2;
  TrainStep<Model> step(model, cfg, train_set, batches);
  TrainingEpochs<Model> epochs(model, step, train_set, train_pp, cfg, batches);
  RunProgress progress = resume_progress(cfg, model, step.optimizer());
  const int64_t start_epoch = progress.epochs;
  RunRecorder recorder(cfg, run_info);
  auto nonfinite = [&](double loss, int64_t epoch, int64_t batch, double lr) {
    fail_nonfinite_loss(cfg.out, loss, epoch, batch, lr);
  };
  bool stopped_early = false;
  for (int64_t epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    EpochStats trained = epochs.run(epoch, nonfinite);
    if (trained.interrupted) return interrupted_result(progress, start_epoch);
    EpochValidation val = validate(model, val_set, eval_pp, eval_batch);
    recorder.epoch(progress.history, epoch + 1, trained, val, step.optimizer().lr());
    bool improved = progress.finish_epoch(epoch, trained.images, trained.seconds, val.macro_f1);
    save_epoch_checkpoints(cfg, model, step.optimizer(), progress, improved);
    if (cfg.checkpointed) cfg.checkpointed(epoch + 1);
    if (progress.stopper.should_stop()) {
      stopped_early = true;
      recorder.early_stop();
      break;
    }
  }

  // The final evaluation, with the best weights.
  load_best_weights(model, cfg.out);
  FitResult res = fit_result(progress, stopped_early);
  res.metrics = recorder.summary(progress, stopped_early);
  if (val_set && val_set->size() > 0)
    res.metrics["val"] = split_metrics(evaluate(model, *val_set, eval_pp, eval_batch), *val_set);
  if (test_set && test_set->size() > 0) {
    EvalResult test = evaluate(model, *test_set, eval_pp, eval_batch);
    res.metrics["test"] = split_metrics(test, *test_set);
    recorder.test(*test_set, test, res.epochs_run);
  }
  recorder.finish(res.metrics);
  return res;
}

// `fit` of an nn::Layer is declared in train/fit.hpp and compiled once (kernels/cpu/train/fit.cpp); other model types
// instantiate the loop here.
template <class Model>
  requires(!std::is_base_of_v<nn::Layer, Model>)
FitResult fit(Model& model, const data::ImageSet& train_set, const data::ImageSet* val_set, const data::ImageSet* test_set,
              const data::Preprocess& train_pp, const data::Preprocess& eval_pp, const TrainConfig& cfg,
              const nlohmann::json& run_info = {}) {
  return fit_loop(model, train_set, val_set, test_set, train_pp, eval_pp, cfg, run_info);
}

}  // namespace fer::train
