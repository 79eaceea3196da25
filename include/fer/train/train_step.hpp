#pragma once
// One optimization step on a batch: the forward and the loss recorded on the tape (under autocast with --amp),
// backward, SAM's second gradient when --sam_rho is set, then, unless an f16 overflow skips the step, gradient
// clipping and the optimizer's update. The schedule sets the learning rate (and one-cycle's momentum) per step.
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "fer/autograd/autocast.hpp"
#include "fer/autograd/tape.hpp"
#include "fer/data/image_set.hpp"
#include "fer/data/sampling.hpp"
#include "fer/ops/loss.hpp"
#include "fer/train/grad_clip.hpp"
#include "fer/train/mixed_precision.hpp"
#include "fer/train/optimizer_setup.hpp"
#include "fer/train/sam.hpp"
#include "fer/train/train_config.hpp"

namespace fer::train {

// Cross-entropy with the run's label smoothing and, with --class_weights, inverse-frequency class weights.
inline CrossEntropyOptions training_loss(const TrainConfig& cfg, const data::ImageSet& train_set) {
  const int64_t c = train_set.num_classes();
  CrossEntropyOptions o;
  o.label_smoothing = cfg.label_smoothing;
  if (cfg.class_weights) {
    auto w = data::balanced_class_weights(data::count_classes(train_set.labels(), size_t(c)));
    o.weight = Tensor::empty({c});
    for (int64_t k = 0; k < c; ++k) o.weight.set_flat(k, w[size_t(k)]);
    o.weight = o.weight.to(cfg.device);
  }
  return o;
}

struct StepResult {
  double loss = 0;  // the batch's mean loss
  Tensor logits;    // on the host
};

template <class Model>
class TrainStep {
 public:
  // The model must be on its training device already: the optimizer holds its parameters.
  TrainStep(Model& model, const TrainConfig& cfg, const data::ImageSet& train_set, int64_t steps_per_epoch)
      : model_(model), cfg_(cfg), opt_(make_optimizer(model, cfg)), precision_(cfg.amp),
        loss_(training_loss(cfg, train_set)), schedule_(make_schedule(cfg, steps_per_epoch)) {
    for (const auto& g : opt_->param_groups()) {
      group_lr_mult_.push_back(*g.lr / cfg.lr);  // the schedule scales every group's own base rate
      for (const Tensor& p : g.params) params_.push_back(p);
    }
  }

  optim::Optimizer& optimizer() { return *opt_; }

  // Sets the learning rate (and one-cycle's momentum) of global step `t`; returns the rate.
  double schedule(int64_t t) {
    const double lr = schedule_->lr(t);
    for (size_t g = 0; g < opt_->param_groups().size(); ++g) opt_->param_groups()[g].lr = lr * group_lr_mult_[g];
    if (double m = schedule_->momentum(t); std::isfinite(m)) opt_->set_momentum(m);
    return lr;
  }

  // One step. A loss that is NaN or Inf clears the tape and calls `on_nonfinite(loss)`, which throws.
  StepResult run(const Tensor& images, const Tensor& labels, const std::function<void(double)>& on_nonfinite) {
    opt_->zero_grad();
    StepResult r = loss_and_gradient(images, labels, on_nonfinite);
    r.logits = r.logits.host();
    if (cfg_.sam_rho > 0)
      sharpness_aware_gradient(params_, cfg_.sam_rho, [&] {
        opt_->zero_grad();
        loss_and_gradient(images, labels, on_nonfinite);
      });
    if (precision_.gradients_usable(params_)) {
      if (cfg_.grad_clip > 0) clip_grad_norm(params_, cfg_.grad_clip);
      opt_->step();
    }
    return r;
  }

 private:
  StepResult loss_and_gradient(const Tensor& images, const Tensor& labels,
                               const std::function<void(double)>& on_nonfinite) {
    StepResult r;
    Tensor loss;
    {
      AutocastGuard autocast(precision_.autocast_dtype());  // f32 (off) unless --amp
      r.logits = model_.forward(images);
      loss = cross_entropy(r.logits, labels, loss_);
    }
    r.loss = loss.item();
    if (!std::isfinite(r.loss)) {
      Tape::current().clear();
      on_nonfinite(r.loss);
    }
    precision_.backward(loss);
    return r;
  }

  Model& model_;
  const TrainConfig& cfg_;
  std::unique_ptr<optim::Optimizer> opt_;
  MixedPrecision precision_;
  CrossEntropyOptions loss_;
  std::unique_ptr<Schedule> schedule_;
  std::vector<double> group_lr_mult_;
  std::vector<Tensor> params_;
};

}  // namespace fer::train
