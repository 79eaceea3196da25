#pragma once
// Gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_): scales every gradient by
// max_norm / (total_norm + 1e-6) when the total norm exceeds max_norm. Returns the total norm before clipping
// (NaN/Inf when a gradient is not finite: the loop treats that as a bad step). Gradients on a CUDA device are
// reduced there (a deterministic two-pass reduction in double; one number comes back) and scaled in one launch.
#include <cmath>
#include <vector>

#include "fer/core/tensor.hpp"
#include "fer/kernels/optim.hpp"
#include "fer/ops/common.hpp"

namespace fer::train {

namespace detail {
// The defined gradients of `params`: those on a CUDA device (all on one device: the CUDA side checks) and those on
// the CPU, in parameter order.
struct GradLists {
  std::vector<kernels::TensorRef> cuda, cpu;
};
inline GradLists grads_by_device(const std::vector<Tensor>& params) {
  GradLists out;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined()) (g.device().is_cuda() ? out.cuda : out.cpu).push_back(kernels::ref(g));
  }
  return out;
}
}  // namespace detail

// The global L2 norm of the parameters' gradients (undefined gradients count as zero).
inline double grad_norm(const std::vector<Tensor>& params) {
  double sq = 0;
  detail::GradLists gs = detail::grads_by_device(params);
  kernels::sum_of_squares({std::move(gs.cuda), 1.0, &sq});
  kernels::sum_of_squares({std::move(gs.cpu), 1.0, &sq});
  return std::sqrt(sq);
}

inline double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  double total = grad_norm(params);
  double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 && std::isfinite(total)) {
    detail::GradLists gs = detail::grads_by_device(params);
    kernels::scale_grads({std::move(gs.cuda), coef});
    kernels::scale_grads({std::move(gs.cpu), coef});
  }
  return total;
}

}  // namespace fer::train
