#pragma once
// Kernel contract: dropout and stochastic depth (a mask per group of elements, then a masked scale). Defined by
// kernels/cpu/dropout.cpp and kernels/cuda/dropout.cu; a build without CUDA links kernels/no_cuda/dropout.cpp.
// The CPU draws each group's number from the generator in order; on a CUDA device the op draws ONE 64-bit key from
// the generator per forward and the mask is a counter-based hash of (key, group index), so the checkpointed
// generator state still determines every mask and each replay of a captured step draws a fresh one.
#include <cstdint>

#include "fer/kernels/tensor_ref.hpp"

namespace fer {
class Generator;
}

namespace fer::kernels {

// The dtype of a mask for data of dtype `x`: the compute type (f64 for f64, f32 otherwise).
inline DType dropout_mask_dtype(DType x) { return x == DType::f64 ? DType::f64 : DType::f32; }

// mask: contiguous, of dropout_mask_dtype. The CPU draws from `gen`, CUDA hashes `key`.
struct DropoutMaskArgs {
  TensorRef mask;
  double p = 0.0, scale = 1.0;
  Generator* gen = nullptr;
  uint64_t key = 0;
};

// mask[g] = 0 with probability p, else `scale`, for every element g of mask
void dropout_mask_cpu(const DropoutMaskArgs&);
void dropout_mask_cuda(const DropoutMaskArgs&);
inline void dropout_mask(const DropoutMaskArgs& a) { run_on(a.mask, dropout_mask_cpu, dropout_mask_cuda, a); }

// x, y (forward) and gy, gx (backward): contiguous, mask.numel() * group elements, one dtype; mask as above.
struct MaskedScaleArgs {
  TensorRef x, mask, y, gy, gx;
  int64_t group = 1;
};

// y[i] = x[i] * mask[i / group]
void masked_scale_forward_cpu(const MaskedScaleArgs&);
void masked_scale_forward_cuda(const MaskedScaleArgs&);
inline void masked_scale_forward(const MaskedScaleArgs& a) {
  run_on(a.x, masked_scale_forward_cpu, masked_scale_forward_cuda, a);
}

// gx += gy[i] * mask[i / group]
void masked_scale_backward_cpu(const MaskedScaleArgs&);
void masked_scale_backward_cuda(const MaskedScaleArgs&);
inline void masked_scale_backward(const MaskedScaleArgs& a) {
  run_on(a.gy, masked_scale_backward_cpu, masked_scale_backward_cuda, a);
}

}  // namespace fer::kernels
