#pragma once
// CPU kernels for softmax and the fused softmax cross-entropy (kernels/cpu/loss.cpp).
#include "fer/core/tensor.hpp"

namespace fer::cpu {

// Softmax / log-softmax over the middle dim of x viewed as [outer, dim, inner].
void softmax_forward(const Tensor& x, const Tensor& y, int64_t outer, int64_t dim, int64_t inner, bool log);
// gx += backward of (log-)softmax given its output y.
void softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx, int64_t outer, int64_t dim, int64_t inner,
                      bool log);

// Cross-entropy of logits [N, C] where row i's loss is sum_c q_ic * (lse_i - z_ic), with q from
//   class targets:        q_ic = (1 - eps) * w[y_i] * [c == y_i] + eps / C * w_c   (0 for ignored rows)
//   probability targets:  q_ic = w_c * ((1 - eps) * t_ic + eps / C)
// (w = 1 without class weights). Writes per-row losses and lse, and returns the normalizer PyTorch's mean
// reduction divides by: sum of w[y_i] over non-ignored rows (class targets) or N (probability targets).
struct CrossEntropySpec {
  const Tensor* weight;      // [C] or undefined
  double label_smoothing;
  int64_t ignore_index;
  bool prob_targets;
};
double cross_entropy_forward(const Tensor& logits, const Tensor& target, const CrossEntropySpec& spec,
                             const Tensor& row_loss, const Tensor& lse);
// gz_i += g_i * ((sum_c q_ic) softmax_i - q_i), g_i = row_scale[i] (none) or `scale` (mean/sum; row_scale undefined).
void cross_entropy_backward(const Tensor& logits, const Tensor& target, const CrossEntropySpec& spec, const Tensor& lse,
                            const Tensor& row_scale, double scale, const Tensor& glogits);

}  // namespace fer::cpu
