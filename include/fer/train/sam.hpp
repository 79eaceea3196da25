#pragma once
// Sharpness-aware minimization (SAM, Foret et al. 2021) as a variant of the training step: the gradient that the
// optimizer applies is taken at the climbed point w + rho * g / |g| of the first gradient g, and the weights come
// back to w before the step.
#include <functional>
#include <vector>

#include "fer/core/tensor.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/train/grad_clip.hpp"

namespace fer::train {

// On entry the parameters hold the gradient at w; `gradient_here` zeroes it and computes it again at the current
// weights. On return the parameters hold w and the gradient at the climbed point.
inline void sharpness_aware_gradient(const std::vector<Tensor>& params, double rho,
                                     const std::function<void()>& gradient_here) {
  const double norm = grad_norm(params) + 1e-12;
  std::vector<Tensor> climb;
  for (const Tensor& p : params) {
    Tensor e = p.grad().defined() ? scale(p.grad(), rho / norm) : Tensor();
    if (e.defined()) p.copy_(add(p.detach(), e));
    climb.push_back(e);
  }
  gradient_here();
  for (size_t k = 0; k < params.size(); ++k)
    if (climb[k].defined()) params[k].copy_(sub(params[k].detach(), climb[k]));
}

}  // namespace fer::train
