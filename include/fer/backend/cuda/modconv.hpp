#pragma once
// CUDA per-sample convolution of the modulated convolution (kernels/gpu/modconv.cpp -> kernels/cuda/modconv.cu): the
// same functions as fer::cpu's, on device tensors (f32 and f64). It is one grouped convolution (batch folded into
// the groups): cuDNN for f32 with FMA math (no TF32), direct kernels for f64. `ws` is device scratch of
// sample_conv_workspace_bytes() bytes (any dtype; undefined = allocated per call from the caching allocator);
// `gx_scratch` is not needed (the transposed backward accumulates with beta = 1).
#include <cstddef>

#include "fer/backend/cpu/modconv.hpp"

namespace fer::gpu {

// The device scratch the forward and backward passes of `sc` need (the largest of the three passes), in bytes.
// Chooses and caches the cuDNN algorithms of the geometry.
size_t sample_conv_workspace_bytes(const cpu::SampleConv& sc, DType dtype, Device device);
void sample_conv_forward(const cpu::SampleConv& sc, const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& ws);
void sample_conv_backward(const cpu::SampleConv& sc, const Tensor& x, const Tensor& w, const Tensor& gy,
                          const Tensor& gx, const Tensor& gw, const Tensor& ws, const Tensor& gx_scratch);

}  // namespace fer::gpu
