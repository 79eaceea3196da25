#pragma once
// Gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_): scales every gradient by
// max_norm / (total_norm + 1e-6) when the total norm exceeds max_norm. Returns the total norm before clipping
// (NaN/Inf when a gradient is not finite: the loop treats that as a bad step).
#include <cmath>
#include <vector>

#include "fer/core/dtype.hpp"
#include "fer/core/tensor.hpp"

namespace fer::train {

// The global L2 norm of the parameters' gradients (undefined gradients count as zero).
inline double grad_norm(const std::vector<Tensor>& params) {
  double sq = 0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
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
  if (coef < 1.0 && std::isfinite(total))
    for (const Tensor& p : params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      dispatch_float(g.dtype(), "clip_grad_norm", [&](auto tag) {
        using T = decltype(tag);
        T* d = g.data<T>();
        for (int64_t i = 0; i < g.numel(); ++i) d[i] = T(double(d[i]) * coef);
      });
    }
  return total;
}

}  // namespace fer::train
