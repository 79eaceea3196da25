#pragma once
// Launchers of the softmax and cross-entropy kernels (kernels/cuda/loss.cu), called by kernels/gpu/loss.cpp.
// Gradients accumulate (+=). Sums accumulate in double for f32/f64 and in float for f16/bf16, in a fixed order.
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// Softmax / log-softmax over the middle dim of [outer, dim, inner].
void launch_softmax_forward(DType dt, const void* x, void* y, int64_t outer, int64_t dim, int64_t inner, bool log,
                            int device);
void launch_softmax_backward(DType dt, const void* y, const void* gy, void* gx, int64_t outer, int64_t dim,
                             int64_t inner, bool log, int device);

// cpu::CrossEntropySpec with raw pointers: weight [c] in the logits' dtype or null; target i64/i32 [n] class
// indices, or probabilities [n, c] in the logits' dtype.
struct CrossEntropyArgs {
  const void* weight;
  const void* target;
  bool target_i64;
  double label_smoothing;
  int64_t ignore_index;
  bool prob_targets;
};
// Per-row losses and log-sum-exp of logits [n, c]; with class targets and `normalizer` non-null, also writes
// *normalizer (device f64) = sum of w[y_i] over non-ignored rows. An out-of-range class gives NaN.
void launch_cross_entropy_forward(DType dt, const void* logits, const CrossEntropyArgs& a, int64_t n, int64_t c,
                                  void* row_loss, void* lse, double* normalizer, int device);
// gz_i += g_i * ((sum_c q_ic) softmax_i - q_i), with g_i = gscale[i * gscale_stride] / divisor when gscale is
// non-null (a device tensor in the logits' dtype: per-row with stride 1, one scalar with stride 0), else `scale`.
void launch_cross_entropy_backward(DType dt, const void* logits, const CrossEntropyArgs& a, const void* lse, int64_t n,
                                   int64_t c, const void* gscale, int64_t gscale_stride, double divisor, double scale,
                                   void* glogits, int device);
// *out = (sum of rows[0..n)) / divisor, summed in double in a fixed order; out is one element of dtype dt.
void launch_sum_rows(DType dt, const void* rows, int64_t n, double divisor, void* out, int device);

}  // namespace fer::cuda
