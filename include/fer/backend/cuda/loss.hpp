#pragma once
// CUDA backend of softmax and the fused softmax cross-entropy (kernels/gpu/loss.cpp -> kernels/cuda/loss.cu):
// fer::cpu's functions and semantics (fer/backend/cpu/loss.hpp) for tensors on a CUDA device, f32/f64/f16/bf16.
// cross_entropy_forward returns the normalizer as a host double, so it waits for the device (one 8-byte copy).
#include "fer/backend/cpu/loss.hpp"
#include "fer/core/tensor.hpp"

namespace fer::gpu {

using cpu::CrossEntropySpec;

void softmax_forward(const Tensor& x, const Tensor& y, int64_t outer, int64_t dim, int64_t inner, bool log);
void softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx, int64_t outer, int64_t dim, int64_t inner,
                      bool log);
double cross_entropy_forward(const Tensor& logits, const Tensor& target, const CrossEntropySpec& spec,
                             const Tensor& row_loss, const Tensor& lse);
void cross_entropy_backward(const Tensor& logits, const Tensor& target, const CrossEntropySpec& spec, const Tensor& lse,
                            const Tensor& row_scale, double scale, const Tensor& glogits);

// The device-side pieces of the op's mean/sum reductions, which keep the upstream gradient on the device:
// out (one element) = sum(rows) / divisor, summed in double in a fixed order;
void cross_entropy_reduce(const Tensor& rows, double divisor, const Tensor& out);
// and cross_entropy_backward with g_i = grad (one element, on the device) / divisor for every row.
void cross_entropy_backward_scalar(const Tensor& logits, const Tensor& target, const CrossEntropySpec& spec,
                                   const Tensor& lse, const Tensor& grad, double divisor, const Tensor& glogits);

}  // namespace fer::gpu
