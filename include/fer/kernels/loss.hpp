#pragma once
// Kernel contract: softmax, log-softmax and the fused softmax cross-entropy. Defined by kernels/cpu/loss.cpp and
// kernels/cuda/loss.cu (f32, f64, f16, bf16 there; sums in double for f32/f64 and in float for the 16-bit types, in
// a fixed order); a build without CUDA links kernels/no_cuda/loss.cpp. Tensors are contiguous, on one device;
// gradients accumulate (+=).
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// x, y, gy, gx viewed as [outer, dim, inner]; the softmax runs over the middle dim.
struct SoftmaxForwardArgs {
  TensorRef x, y;
  int64_t outer, dim, inner;
  bool log;
};
struct SoftmaxBackwardArgs {
  TensorRef y, gy, gx;
  int64_t outer, dim, inner;
  bool log;
};

// Cross-entropy of logits [N, C] where row i's loss is sum_c q_ic * (lse_i - z_ic), with q from
//   class targets (i64/i32 [N]):              q_ic = (1 - eps) * w[y_i] * [c == y_i] + eps / C * w_c  (0 if ignored)
//   probability targets ([N, C], logits' dtype): q_ic = w_c * ((1 - eps) * t_ic + eps / C)
// (w = weight [C] in the logits' dtype, 1 when undefined; eps = label_smoothing).
struct CrossEntropySpec {
  TensorRef weight;
  double label_smoothing;
  int64_t ignore_index;
  bool prob_targets;
};
// row_loss, lse: [N] in the logits' dtype.
struct CrossEntropyForwardArgs {
  TensorRef logits, target;
  CrossEntropySpec spec;
  TensorRef row_loss, lse;
};
// g_i = row_scale[i] ([N], reduction none) or `scale` (row_scale undefined).
struct CrossEntropyBackwardArgs {
  TensorRef logits, target;
  CrossEntropySpec spec;
  TensorRef lse, row_scale;
  double scale;
  TensorRef glogits;
};
// out (one element) = sum(rows) / divisor.
struct CrossEntropyReduceArgs {
  TensorRef rows;
  double divisor;
  TensorRef out;
};
// g_i = grad (one element on the device, the logits' dtype) / divisor for every row.
struct CrossEntropyBackwardScalarArgs {
  TensorRef logits, target;
  CrossEntropySpec spec;
  TensorRef lse, grad;
  double divisor;
  TensorRef glogits;
};

// y = softmax(x) or log_softmax(x).
void softmax_forward_cpu(const SoftmaxForwardArgs&);
void softmax_forward_cuda(const SoftmaxForwardArgs&);
inline void softmax_forward(const SoftmaxForwardArgs& a) { run_on(a.x, softmax_forward_cpu, softmax_forward_cuda, a); }

// gx += the backward of (log-)softmax given its output y.
void softmax_backward_cpu(const SoftmaxBackwardArgs&);
void softmax_backward_cuda(const SoftmaxBackwardArgs&);
inline void softmax_backward(const SoftmaxBackwardArgs& a) {
  run_on(a.y, softmax_backward_cpu, softmax_backward_cuda, a);
}

// Writes per-row losses and lse, and returns the normalizer PyTorch's mean reduction divides by: the sum of w[y_i]
// over non-ignored rows (class targets) or N (probability targets). On CUDA this waits for the device (one copy).
double cross_entropy_forward_cpu(const CrossEntropyForwardArgs&);
double cross_entropy_forward_cuda(const CrossEntropyForwardArgs&);
inline double cross_entropy_forward(const CrossEntropyForwardArgs& a) {
  return a.logits.on_cuda() ? cross_entropy_forward_cuda(a) : cross_entropy_forward_cpu(a);
}

// glogits_i += g_i * ((sum_c q_ic) softmax_i - q_i).
void cross_entropy_backward_cpu(const CrossEntropyBackwardArgs&);
void cross_entropy_backward_cuda(const CrossEntropyBackwardArgs&);
inline void cross_entropy_backward(const CrossEntropyBackwardArgs& a) {
  run_on(a.logits, cross_entropy_backward_cpu, cross_entropy_backward_cuda, a);
}

// CUDA only, the device-side pieces of the mean/sum reductions that keep the upstream gradient on the device (the
// CPU op reduces on the host): the reduced loss, summed in double in a fixed order,
void cross_entropy_reduce_cuda(const CrossEntropyReduceArgs&);
// and cross_entropy_backward with the upstream gradient read on the device.
void cross_entropy_backward_scalar_cuda(const CrossEntropyBackwardScalarArgs&);

}  // namespace fer::kernels
