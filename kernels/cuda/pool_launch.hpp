#pragma once
// Launchers of the NHWC pooling kernels (kernels/cuda/pool.cu), called by kernels/gpu/pool.cpp. Gradients
// accumulate (+=). Backward passes gather: each input element sums the outputs whose window holds it, in the CPU's
// output order, so they need no atomics and are deterministic.
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// The geometry of cpu::PoolGeometry, without the framework's headers.
struct PoolDims {
  int64_t n, h, w, c, ho, wo;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool count_include_pad;
};

void launch_max_pool2d_forward(DType dt, const PoolDims& g, const void* x, void* y, int32_t* argmax, int device);
void launch_max_pool2d_backward(DType dt, const PoolDims& g, const void* gy, const int32_t* argmax, void* gx,
                                int device);
void launch_avg_pool2d_forward(DType dt, const PoolDims& g, const void* x, void* y, int device);
void launch_avg_pool2d_backward(DType dt, const PoolDims& g, const void* gy, void* gx, int device);
// x [n, h, w, c] -> y [n, ho, wo, c] with PyTorch's adaptive windows.
void launch_adaptive_avg_pool2d_forward(DType dt, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo,
                                        const void* x, void* y, int device);
void launch_adaptive_avg_pool2d_backward(DType dt, int64_t n, int64_t h, int64_t w, int64_t c, int64_t ho, int64_t wo,
                                         const void* gy, void* gx, int device);

}  // namespace fer::cuda
