#pragma once
// Dynamic loss scaling for reduced-precision (f16) training, as torch.cuda.amp.GradScaler does it: the loss is
// multiplied by `scale` before backward; before the optimizer step the gradients are divided by it and checked; a
// step with an Inf/NaN gradient is skipped and the scale halved (backoff), and after `growth_interval` good steps
// in a row the scale doubles. Backend-independent: gradients on a CUDA device (any floating dtype) are unscaled
// and checked there in one launch, and one flag comes back.
#include <cmath>
#include <vector>

#include "fer/core/dtype.hpp"
#include "fer/core/tensor.hpp"
#ifdef FER_WITH_CUDA
#include "fer/backend/cuda/optim.hpp"
#endif

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
#ifdef FER_WITH_CUDA
    std::vector<Tensor> device_grads;
    for (const Tensor& p : params)
      if (Tensor g = p.grad(); g.defined() && g.device().is_cuda()) device_grads.push_back(g);
    if (!device_grads.empty()) finite = gpu::unscale_and_check(device_grads, scale_);
#endif
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (!g.defined() || !g.device().is_cpu()) continue;
      dispatch_float(g.dtype(), "loss scaling", [&](auto tag) {
        using T = decltype(tag);
        T* d = g.data<T>();
        T inv = T(1.0 / scale_);
        for (int64_t i = 0; i < g.numel(); ++i) {
          d[i] *= inv;
          finite = finite && std::isfinite(double(d[i]));
        }
      });
    }
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
