#pragma once
// Kernel contract: normalization over the channel (last) dim -- batch norm (optionally fused with a following ReLU)
// and layer norm. Defined by kernels/cpu/norm.cpp and kernels/cuda/norm.cu (f32, f64, f16, bf16 there); a build
// without CUDA links kernels/no_cuda/norm.cpp.
//
// Tensors are contiguous, of one dtype, on one device, and viewed as [M, C]; gradients accumulate (+=) into their
// buffers; undefined tensors are skipped. One exception: batch norm's x and gx (stats, apply, backward, and the
// add_relu variants) may be strided rows, C values each, norm_row_stride apart (a channel prefix of a wider NHWC
// buffer: DenseNet's layers read and write their growing input in place). Reductions over rows are split into a fixed number of row chunks
// (norm_row_chunks: it depends on the sizes, not on the thread count, so results are reproducible), each with double
// accumulators in a workspace the op allocates up front: the kernels allocate nothing, so a replayed step runs
// allocation-free. Every CUDA reduction is deterministic too (fixed chunks summed in order, no atomics).
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// Number of row chunks the reductions of an [m, c] input use: at least 16384 elements each, at most 64 (and m).
inline int64_t norm_row_chunks(int64_t m, int64_t c) {
  constexpr int64_t kChunkWork = 16384, kMaxChunks = 64;
  const int64_t most = m < 1 ? 1 : (m > kMaxChunks ? kMaxChunks : m);
  const int64_t want = m * c / kChunkWork;
  return want < 1 ? 1 : (want > most ? most : want);
}

// The distance between consecutive rows of x viewed as [M, C], or 0 when its rows are not evenly spaced: C when
// contiguous, the wider buffer's channel count for a channel prefix of NHWC data (the last dim dense, the others
// stepping uniformly over rows).
inline int64_t norm_row_stride_or_0(const TensorRef& x) {
  const int r = x.dim();
  if (x.is_contiguous()) return r == 0 ? 1 : x.size(r - 1);
  const int64_t c = x.size(r - 1);
  if (c > 1 && x.strides()[r - 1] != 1) return 0;
  // Dims of size 1 may carry any stride: the row stride is the innermost stride of a dim of size > 1, and every
  // other such dim must step over whole blocks of rows.
  int64_t rows = 0, block = 1;  // block: rows spanned by one step of the dim under test
  for (int d = r - 2; d >= 0; --d) {
    if (x.size(d) > 1) {
      if (rows == 0) rows = x.strides()[d];
      else if (x.strides()[d] != rows * block) return 0;
    }
    block *= x.size(d);
  }
  if (rows == 0) return c;  // a single row
  return rows >= c ? rows : 0;
}
inline int64_t norm_row_stride(const TensorRef& x) {
  const int64_t s = norm_row_stride_or_0(x);
  FER_CHECK(s > 0 || x.numel() == 0, "batch_norm: the rows of ", x.shape().str(), " with strides ", x.strides().str(),
            " are not evenly spaced");
  return s;
}

// Scratch for one batch/layer norm node, on the input's device, reused by forward and backward:
//   acc  f64 [2 * norm_row_chunks(m, c) + 2, C]: per-chunk partial sums and their totals;
//   coef x's dtype [3, C]: per-channel coefficients of the elementwise passes.
struct NormWorkspace {
  TensorRef acc, coef;
};

struct BatchNormStatsArgs {
  TensorRef x;
  NormWorkspace ws;
  TensorRef mean, invstd, var;
  double eps;
};
struct BatchNormApplyArgs {
  TensorRef x, mean, invstd, weight, bias;
  NormWorkspace ws;
  TensorRef y;
  bool relu = false;
};
// accumulate_gx false: gx is written (=), never read (a first writer of a recorded step, fer/autograd/written_grads.hpp).
struct BatchNormBackwardArgs {
  TensorRef x, mean, invstd, weight, gy;
  bool batch_stats;
  NormWorkspace ws;
  TensorRef gx, gweight, gbias, relu_out;
  bool accumulate_gx = true;
};
struct BatchNormAddReluApplyArgs {
  TensorRef x, mean, invstd, weight, bias, residual;
  NormWorkspace ws;
  TensorRef y;
};
struct BatchNormAddReluBackwardArgs {
  TensorRef x, mean, invstd, weight, gy, y;
  bool batch_stats;
  NormWorkspace ws;
  TensorRef gx, gweight, gbias, gresidual;
  bool accumulate_gx = true, accumulate_gresidual = true;
};
struct InverseStdArgs {
  TensorRef var, invstd;
  double eps;
};
struct RunningUpdateArgs {
  TensorRef running, value;
  double momentum, scale;
};
struct LayerNormForwardArgs {
  TensorRef x, weight, bias;
  double eps;
  TensorRef y, mean, invstd;
};
struct LayerNormBackwardArgs {
  TensorRef x, weight, mean, invstd, gy;
  NormWorkspace ws;
  TensorRef gx, gweight, gbias;
};
struct IncrementArgs {
  TensorRef t;
};

// Batch statistics over the M rows: mean [C], invstd = 1/sqrt(biased var + eps) [C] and, if defined, the biased
// variance [C] (all in x's dtype). Two passes (mean, then squared deviations), accumulated in double.
void batch_norm_stats_cpu(const BatchNormStatsArgs&);
void batch_norm_stats_cuda(const BatchNormStatsArgs&);
inline void batch_norm_stats(const BatchNormStatsArgs& a) {
  run_on(a.x, batch_norm_stats_cpu, batch_norm_stats_cuda, a);
}

// y = (x - mean) * invstd * weight + bias (weight/bias may be undefined = 1/0); relu: y = max(y, 0) in the same
// pass (fused BN + ReLU).
void batch_norm_apply_cpu(const BatchNormApplyArgs&);
void batch_norm_apply_cuda(const BatchNormApplyArgs&);
inline void batch_norm_apply(const BatchNormApplyArgs& a) {
  run_on(a.x, batch_norm_apply_cpu, batch_norm_apply_cuda, a);
}

// Backward of batch_norm_apply. batch_stats: mean/invstd are this batch's statistics (training), so the gradient
// flows through them too; otherwise they are constants (eval). relu_out: defined for a fused BN + ReLU, its output
// y; gy then passes only where y > 0 (the ReLU's backward, folded into the BN's passes).
void batch_norm_backward_cpu(const BatchNormBackwardArgs&);
void batch_norm_backward_cuda(const BatchNormBackwardArgs&);
inline void batch_norm_backward(const BatchNormBackwardArgs& a) {
  run_on(a.x, batch_norm_backward_cpu, batch_norm_backward_cuda, a);
}

// y = max((x - mean) * invstd * weight + bias + residual, 0) in one pass (BN, residual add and ReLU of a ResNet
// block; residual has x's shape and is contiguous).
void batch_norm_add_relu_apply_cpu(const BatchNormAddReluApplyArgs&);
void batch_norm_add_relu_apply_cuda(const BatchNormAddReluApplyArgs&);
inline void batch_norm_add_relu_apply(const BatchNormAddReluApplyArgs& a) {
  run_on(a.x, batch_norm_add_relu_apply_cpu, batch_norm_add_relu_apply_cuda, a);
}

// Backward of batch_norm_add_relu_apply from its output y (the pre-activation is not kept): gy passes where y > 0,
// to the residual (gresidual += it, or = with accumulate_gresidual false) and through the BN as batch_norm_backward
// with relu_out = y.
void batch_norm_add_relu_backward_cpu(const BatchNormAddReluBackwardArgs&);
void batch_norm_add_relu_backward_cuda(const BatchNormAddReluBackwardArgs&);
inline void batch_norm_add_relu_backward(const BatchNormAddReluBackwardArgs& a) {
  run_on(a.x, batch_norm_add_relu_backward_cpu, batch_norm_add_relu_backward_cuda, a);
}

// invstd = 1 / sqrt(var + eps) (eval with running statistics).
void inverse_std_cpu(const InverseStdArgs&);
void inverse_std_cuda(const InverseStdArgs&);
inline void inverse_std(const InverseStdArgs& a) { run_on(a.var, inverse_std_cpu, inverse_std_cuda, a); }

// running = (1 - momentum) * running + momentum * value * scale   (PyTorch's momentum convention)
void running_update_cpu(const RunningUpdateArgs&);
void running_update_cuda(const RunningUpdateArgs&);
inline void running_update(const RunningUpdateArgs& a) {
  run_on(a.running, running_update_cpu, running_update_cuda, a);
}

// LayerNorm over the last dim: y, and per-row mean and invstd [M] (x's dtype) saved for the backward pass.
void layer_norm_forward_cpu(const LayerNormForwardArgs&);
void layer_norm_forward_cuda(const LayerNormForwardArgs&);
inline void layer_norm_forward(const LayerNormForwardArgs& a) {
  run_on(a.x, layer_norm_forward_cpu, layer_norm_forward_cuda, a);
}

// gx, gweight, gbias += the gradients of layer_norm_forward for gy (ws is needed for gweight/gbias).
void layer_norm_backward_cpu(const LayerNormBackwardArgs&);
void layer_norm_backward_cuda(const LayerNormBackwardArgs&);
inline void layer_norm_backward(const LayerNormBackwardArgs& a) {
  run_on(a.x, layer_norm_backward_cpu, layer_norm_backward_cuda, a);
}

// t += 1 for a one-element i64 tensor (num_batches_tracked; on CUDA without a host round trip).
void increment_i64_cpu(const IncrementArgs&);
void increment_i64_cuda(const IncrementArgs&);
inline void increment_i64(const IncrementArgs& a) { run_on(a.t, increment_i64_cpu, increment_i64_cuda, a); }

}  // namespace fer::kernels
