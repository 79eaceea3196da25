#pragma once
// Gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_): scales every gradient by
// max_norm / (total_norm + 1e-6) when the total norm exceeds max_norm. Returns the total norm before clipping
// (NaN/Inf when a gradient is not finite: the loop treats that as a bad step). Gradients on a CUDA device are
// reduced there (a deterministic two-pass reduction in double; one number comes back) and scaled in one launch.
#include <cmath>
#include <vector>

#include "fer/core/dtype.hpp"
#include "fer/core/tensor.hpp"
#ifdef FER_WITH_CUDA
#include "fer/backend/cuda/optim.hpp"
#endif

namespace fer::train {

namespace detail {
// The defined gradients of `params` that live on a CUDA device (all on one device: the GPU side checks).
inline std::vector<Tensor> cuda_grads(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (g.defined() && g.device().is_cuda()) out.push_back(g);
  }
  return out;
}
}  // namespace detail

// The global L2 norm of the parameters' gradients (undefined gradients count as zero).
inline double grad_norm(const std::vector<Tensor>& params) {
  double sq = 0;
#ifdef FER_WITH_CUDA
  if (std::vector<Tensor> gs = detail::cuda_grads(params); !gs.empty()) sq += gpu::sum_of_squares(gs);
#endif
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined() || !g.device().is_cpu()) continue;
    dispatch_float(g.dtype(), "clip_grad_norm", [&](auto tag) {
      using T = decltype(tag);
      const T* d = g.data<T>();
      for (int64_t i = 0; i < g.numel(); ++i) sq += double(d[i]) * double(d[i]);
    });
  }
  return std::sqrt(sq);
}

inline double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  double total = grad_norm(params);
  double coef = max_norm / (total + 1e-6);
  if (coef < 1.0 && std::isfinite(total)) {
#ifdef FER_WITH_CUDA
    if (std::vector<Tensor> gs = detail::cuda_grads(params); !gs.empty()) gpu::scale_(gs, coef);
#endif
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (!g.defined() || !g.device().is_cpu()) continue;
      dispatch_float(g.dtype(), "clip_grad_norm", [&](auto tag) {
        using T = decltype(tag);
        T* d = g.data<T>();
        for (int64_t i = 0; i < g.numel(); ++i) d[i] = T(double(d[i]) * coef);
      });
    }
  }
  return total;
}

}  // namespace fer::train
