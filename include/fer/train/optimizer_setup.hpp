#pragma once
// What a run's settings build for training: the optimizer over parameter groups, and the learning-rate schedule.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "fer/nn/module.hpp"
#include "fer/optim/adam.hpp"
#include "fer/optim/sgd.hpp"
#include "fer/train/schedule.hpp"
#include "fer/train/train_config.hpp"

namespace fer::train {

inline bool has_prefix(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes)
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

// Parameter groups: {head, backbone} x {decayed weights, norms and biases without decay}; frozen ones left out.
inline std::unique_ptr<optim::Optimizer> make_optimizer(const nn::Module& model, const TrainConfig& cfg) {
  optim::ParamGroup groups4[4];  // [backbone?][no decay?]
  for (const auto& [name, p] : model.named_parameters()) {
    Tensor t = p;
    if (has_prefix(name, cfg.freeze_prefixes)) t.set_requires_grad(false);
    if (!t.requires_grad()) continue;
    bool backbone = cfg.backbone_lr_mult != 1.0 && !has_prefix(name, cfg.head_prefixes);
    bool no_decay = cfg.no_decay_norm_bias && p.dim() <= 1;
    groups4[2 * backbone + no_decay].params.push_back(p);
  }
  std::vector<optim::ParamGroup> groups;
  for (int k = 0; k < 4; ++k) {
    groups4[k].weight_decay = k % 2 ? 0.0 : cfg.weight_decay;
    groups4[k].lr = k >= 2 ? cfg.lr * cfg.backbone_lr_mult : cfg.lr;
    if (!groups4[k].params.empty()) groups.push_back(groups4[k]);
  }
  FER_CHECK(!groups.empty(), "train: the model has no trainable parameters");
  if (cfg.optimizer == "sgd") {
    optim::SgdOptions o;
    o.lr = cfg.lr, o.momentum = cfg.momentum, o.nesterov = cfg.nesterov, o.weight_decay = cfg.weight_decay;
    return std::make_unique<optim::SGD>(groups, o);
  }
  optim::AdamOptions o;
  o.lr = cfg.lr, o.weight_decay = cfg.weight_decay;
  if (cfg.optimizer == "adam") return std::make_unique<optim::Adam>(groups, o);
  if (cfg.optimizer == "adamw") return std::make_unique<optim::AdamW>(groups, o);
  fail("train: unknown optimizer '", cfg.optimizer, "' (sgd, adam, adamw)");
}

inline std::unique_ptr<Schedule> make_schedule(const TrainConfig& cfg, int64_t steps_per_epoch) {
  int64_t total = std::max<int64_t>(1, cfg.epochs * steps_per_epoch);
  if (cfg.schedule == "none") return std::make_unique<ConstantSchedule>(cfg.lr);
  if (cfg.schedule == "step") return std::make_unique<StepSchedule>(cfg.lr, cfg.step_epochs * steps_per_epoch, cfg.step_gamma);
  if (cfg.schedule == "cosine")
    return std::make_unique<WarmupCosineSchedule>(cfg.lr, total, std::min(total - 1, cfg.warmup_epochs * steps_per_epoch));
  if (cfg.schedule == "onecycle") return std::make_unique<OneCycleSchedule>(cfg.lr, std::max<int64_t>(total, 2));
  fail("train: unknown schedule '", cfg.schedule, "' (none, step, cosine, onecycle)");
}

}  // namespace fer::train
