#pragma once
// Launchers of the layout kernels (kernels/cuda/shape.cu), called by kernels/gpu/shape.cpp. Pointers are the first
// elements of the tensors' views; offsets and strides count elements. Every launch runs on the device's stream.
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// Up to 8 dims (fer::kMaxDims): the iterated shape and the element strides of the source and destination.
struct MoveDims {
  int nd = 0;
  int64_t size[8] = {};
  int64_t src[8] = {};
  int64_t dst[8] = {};
};

// dst[dst_offset + idx . dims.dst] (+)= src[src_offset + idx . dims.src] for every index idx of dims.size (n of them).
// Copies move bytes of any dtype; accumulation needs a floating dtype, and distinct destinations (no two indices
// may land on one element: the kernel does not serialize them).
void launch_move_strided(const void* src, int64_t src_offset, void* dst, int64_t dst_offset, const MoveDims& dims,
                         int64_t n, bool accumulate, DType dt, int device);

// NHWC constant padding / cropping: y[b, oh, ow, ch] = x[b, oh - top, ow - left, ch] inside x, `value` elsewhere.
void launch_pad2d_forward(const void* x, void* y, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo,
                          int64_t top, int64_t left, double value, DType dt, int device);
// gx[b, ih, iw, ch] += gy[b, ih + top, iw + left, ch] where that lies inside gy.
void launch_pad2d_backward(const void* gy, void* gx, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo,
                           int64_t top, int64_t left, DType dt, int device);

}  // namespace fer::cuda
