#pragma once
// The settings of one training run (train::fit): optimizer, schedule, loss, sampler, regularization, precision,
// where its outputs go and the run it continues.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fer/core/device.hpp"

namespace fer::train {

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  uint64_t seed = 0;
  std::string optimizer = "adam";  // sgd | adam | adamw
  double lr = 1e-3, weight_decay = 0.0, momentum = 0.9;
  bool nesterov = false;
  double sam_rho = 0.0;            // > 0: sharpness-aware minimization around the optimizer
  bool no_decay_norm_bias = true;  // weight decay only on weights of rank >= 2
  double backbone_lr_mult = 1.0;   // < 1: a lower learning rate for everything but the head (pretrained backbones)
  std::vector<std::string> head_prefixes = {"fc.", "classifier.", "head."};
  std::vector<std::string> freeze_prefixes;  // parameters whose names start with one of these are not trained
  std::string schedule = "none";   // none | step | cosine | onecycle
  int64_t warmup_epochs = 0, step_epochs = 10;
  double step_gamma = 0.1;
  double label_smoothing = 0.0;
  bool class_weights = false;      // inverse-frequency class weights in the loss
  bool balanced_sampler = false;
  double grad_clip = 0.0;          // max global gradient norm; 0 = off
  int64_t patience = 0;            // early stopping on validation macro-F1; 0 = off
  Device device = Device::cpu();   // where the model trains: batches are copied there, metrics come back
  // Mixed precision on CUDA: "bf16" or "fp16" autocast (f32 master weights); fp16 adds dynamic loss scaling.
  std::string amp = "off";
  std::filesystem::path out = "runs/run";
  std::filesystem::path resume;    // a run directory or checkpoint directory to continue from
  int64_t limit_batches = 0;       // > 0: at most this many training batches per epoch (smoke runs)
  bool quiet = false;
  // Polled after every batch: when it returns true the run stops at once, keeping the checkpoints of the last
  // finished epoch (so --resume continues exactly there). Ctrl-C handlers set it.
  std::function<bool()> interrupted;
  // Called with the number of finished epochs once their checkpoints are on disk (tests kill a run here).
  std::function<void(int64_t)> checkpointed;
};

}  // namespace fer::train
