#pragma once
// Kernel contract: moving elements between layouts (one strided gather and one strided scatter serve permute, slice,
// concat, split, channel shuffle and contiguous()) and constant 2-d padding. Defined by kernels/cpu/shape.cpp and
// kernels/cuda/shape.cu; a build without CUDA links kernels/no_cuda/shape.cpp. Copies work for every dtype;
// accumulation and padding need a floating dtype (f32/f64 on the CPU; also f16/bf16 on CUDA).
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// The storage around a tensor's first element, in elements: offsets in [-before, after) may be addressed. The CUDA
// side checks a strided map against it (leaving the storage is an error there, not an out-of-bounds access).
struct StorageSpan {
  int64_t before = 0, after = 0;
};

// src is addressed from its first element; dst is contiguous and gives the iterated shape.
struct GatherArgs {
  TensorRef src;
  int64_t src_offset = 0;
  Shape src_strides;
  TensorRef dst;
  bool accumulate = false;
  StorageSpan src_span;
};

// dst = or += src's elements at src_offset + sum_d index_d * src_strides[d]
void gather_strided_cpu(const GatherArgs&);
void gather_strided_cuda(const GatherArgs&);
inline void gather_strided(const GatherArgs& a) { run_on(a.src, gather_strided_cpu, gather_strided_cuda, a); }

// src is contiguous and gives the iterated shape; dst is addressed from its first element, and accumulated targets
// must be distinct (as the ops' permutations and slices are).
struct ScatterArgs {
  TensorRef src, dst;
  int64_t dst_offset = 0;
  Shape dst_strides;
  bool accumulate = false;
  StorageSpan dst_span;
};

// dst's elements at dst_offset + sum_d index_d * dst_strides[d] = or += src
void scatter_strided_cpu(const ScatterArgs&);
void scatter_strided_cuda(const ScatterArgs&);
inline void scatter_strided(const ScatterArgs& a) { run_on(a.dst, scatter_strided_cpu, scatter_strided_cuda, a); }

// NHWC images, contiguous, equal N and C: x and y for the forward, gy (y's shape) and gx (x's shape) for the backward.
struct Pad2dArgs {
  TensorRef x, y, gy, gx;
  int64_t top = 0, left = 0;
  double value = 0.0;
};

// y[n, h + top, w + left, c] = x[n, h, w, c], `value` elsewhere (negative amounts crop)
void pad2d_forward_cpu(const Pad2dArgs&);
void pad2d_forward_cuda(const Pad2dArgs&);
inline void pad2d_forward(const Pad2dArgs& a) { run_on(a.x, pad2d_forward_cpu, pad2d_forward_cuda, a); }

// gx[n, h, w, c] += gy[n, h + top, w + left, c] where that lies inside gy
void pad2d_backward_cpu(const Pad2dArgs&);
void pad2d_backward_cuda(const Pad2dArgs&);
inline void pad2d_backward(const Pad2dArgs& a) { run_on(a.gy, pad2d_backward_cpu, pad2d_backward_cuda, a); }

}  // namespace fer::kernels
