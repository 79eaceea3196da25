#pragma once
// CPU kernels for normalization over the channel (last) dim (kernels/cpu/norm.cpp). Tensors are contiguous and
// viewed as [M, C]; gradients accumulate (+=) into their buffers; undefined tensors are skipped.
//
// Reductions over rows are split into a fixed number of row chunks (it depends on the sizes, not on the thread
// count, so results are reproducible), each with double accumulators in a workspace the op allocates up front:
// the kernels themselves allocate nothing, so a replayed step runs allocation-free.
#include "fer/core/tensor.hpp"

namespace fer::cpu {

// Number of row chunks the reductions of an [m, c] input use.
int64_t norm_row_chunks(int64_t m, int64_t c);

// Scratch for one batch/layer norm node, allocated before the op is recorded and reused by forward and backward.
struct NormWorkspace {
  Tensor acc;   // f64 [2 * chunks + 2, C]: per-chunk partial sums and their totals
  Tensor coef;  // x's dtype [3, C]: per-channel coefficients of the elementwise passes
};
inline NormWorkspace make_norm_workspace(int64_t m, int64_t c, DType dtype) {
  return {Tensor::empty({2 * norm_row_chunks(m, c) + 2, c}, DType::f64), Tensor::empty({3, c}, dtype)};
}

// Batch statistics over the M rows: mean [C], invstd = 1/sqrt(biased var + eps) [C] and, if defined, the biased
// variance [C] (all in x's dtype). Two passes (mean, then squared deviations), accumulated in double.
void batch_norm_stats(const Tensor& x, const NormWorkspace& ws, const Tensor& mean, const Tensor& invstd,
                      const Tensor& var, double eps);
// y = (x - mean) * invstd * weight + bias (weight/bias may be undefined = 1/0); relu: y = max(y, 0) in the same
// pass (fused BN + ReLU).
void batch_norm_apply(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                      const Tensor& bias, const NormWorkspace& ws, const Tensor& y, bool relu = false);
// Backward of batch_norm_apply. `batch_stats`: mean/invstd are this batch's statistics (training), so the
// gradient flows through them too; otherwise they are constants (eval). `relu_out`: defined for a fused BN + ReLU,
// its output y; gy then passes only where y > 0 (the ReLU's backward, folded into the BN's passes).
void batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& weight,
                         const Tensor& gy, bool batch_stats, const NormWorkspace& ws, const Tensor& gx,
                         const Tensor& gweight, const Tensor& gbias, const Tensor& relu_out = Tensor());
// invstd = 1 / sqrt(running_var + eps)
void inverse_std(const Tensor& var, const Tensor& invstd, double eps);
// running = (1 - momentum) * running + momentum * value * scale   (PyTorch's momentum convention)
void running_update(const Tensor& running, const Tensor& value, double momentum, double scale);

// LayerNorm over the last dim: per-row mean and invstd [M] (x's dtype) are saved for the backward pass.
void layer_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& invstd);
void layer_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd,
                         const Tensor& gy, const NormWorkspace& ws, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias);

}  // namespace fer::cpu
