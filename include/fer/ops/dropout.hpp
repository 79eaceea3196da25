#pragma once
// Dropout and stochastic depth with autograd. Masks are drawn inside the recorded forward from the given
// generator, so each replay of a captured step draws a fresh mask (the generator must outlive the graph). On a CUDA
// device each forward draws one 64-bit key from the generator and the device hashes (key, index) into the mask.
#include "fer/core/rng.hpp"
#include "fer/kernels/dropout.hpp"
#include "fer/ops/common.hpp"

namespace fer {

namespace ops_detail {
// y = x * scale[row of `group` elements]; the gradient is gy * scale.
inline Tensor masked_scale(const char* op, const Tensor& x_in, int64_t group, double p, Generator* gen) {
  Tensor x = contiguous(x_in);
  int64_t groups = group ? x.numel() / group : 0;
  double keep_scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  Tensor mask = Tensor::empty({groups}, kernels::dropout_mask_dtype(x.dtype()), x.device());
  Tensor y = Tensor::empty_like(x);
  autograd::apply(
      op, {x}, {y},
      [=] {
        // A CUDA forward draws one key (the device hashes it); the CPU draws one number per group itself.
        const uint64_t key = x.device().is_cuda() ? gen->next_u64() : 0;
        kernels::dropout_mask({kernels::ref(mask), p, keep_scale, gen, key});
        kernels::masked_scale_forward({kernels::ref(x), kernels::ref(mask), kernels::ref(y), {}, {}, group});
      },
      [=] {
        if (x.requires_grad())
          kernels::masked_scale_backward(
              {{}, kernels::ref(mask), {}, kernels::ref(y.grad()), kernels::ref(x.grad_buffer()), group});
      });
  return y;
}
}  // namespace ops_detail

// Training: each element zeroed with probability p, survivors scaled by 1/(1-p). Eval or p == 0: x itself.
inline Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator()) {
  FER_CHECK(p >= 0 && p <= 1, "dropout: p must be in [0, 1], got ", p);
  FER_CHECK(x.defined(), "dropout: undefined input");
  if (!training || p == 0) return x;
  return ops_detail::masked_scale("dropout", x, 1, p, &gen);
}

// torchvision.ops.stochastic_depth: row mode drops whole samples (dim 0) with probability p, batch mode the whole
// tensor; survivors are scaled by 1/(1-p).
inline Tensor stochastic_depth(const Tensor& x, double p, bool row_mode, bool training,
                               Generator& gen = default_generator()) {
  FER_CHECK(p >= 0 && p <= 1, "stochastic_depth: p must be in [0, 1], got ", p);
  FER_CHECK(x.defined() && x.dim() >= 1, "stochastic_depth: undefined or 0-d input");
  if (!training || p == 0) return x;
  int64_t group = row_mode ? x.numel() / std::max<int64_t>(x.size(0), 1) : x.numel();
  return ops_detail::masked_scale("stochastic_depth", x, group, p, &gen);
}

}  // namespace fer
