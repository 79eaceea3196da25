#pragma once
// Dynamic loss scaling for reduced-precision (f16) training, as torch.cuda.amp.GradScaler does it: the loss is
// multiplied by `scale` before backward; before the optimizer step the gradients are divided by it and checked; a
// step with an Inf/NaN gradient is skipped and the scale halved (backoff), and after `growth_interval` good steps
// in a row the scale doubles. Backend-independent: gradients on a CUDA device (any floating dtype) are unscaled
// and checked there in one launch, and one flag comes back.
#include <cmath>
#include <vector>

#include "fer/core/tensor.hpp"
#include "fer/kernels/optim.hpp"
#include "fer/train/grad_clip.hpp"

namespace fer::train {

class DynamicLossScaler {
 public:
  explicit DynamicLossScaler(double init_scale = 65536.0, double growth_factor = 2.0, double backoff_factor = 0.5,
                             int64_t growth_interval = 2000)
      : scale_(init_scale), growth_(growth_factor), backoff_(backoff_factor), interval_(growth_interval) {}

  double scale() const { return scale_; }
  // The factor to multiply the loss (or the backward seed) by.
  double loss_factor() const { return scale_; }

  // Divides every gradient by the scale; returns false (and zeroes nothing) when any gradient is not finite.
  bool unscale(const std::vector<Tensor>& params) const {
    bool finite = true;
    detail::GradLists gs = detail::grads_by_device(params);
    kernels::unscale_and_check({std::move(gs.cuda), scale_, nullptr, &finite});
    kernels::unscale_and_check({std::move(gs.cpu), scale_, nullptr, &finite});
    return finite;
  }

  // After each step: whether the step was taken (finite gradients) adjusts the scale.
  void update(bool step_was_finite) {
    if (!step_was_finite) {
      scale_ *= backoff_;
      good_steps_ = 0;
      return;
    }
    if (++good_steps_ >= interval_) {
      scale_ *= growth_;
      good_steps_ = 0;
    }
  }

 private:
  double scale_, growth_, backoff_;
  int64_t interval_, good_steps_ = 0;
};

}  // namespace fer::train
