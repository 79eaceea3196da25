#pragma once
// Launchers of the fused bias + activation + gain + clamp kernels (kernels/cuda/bias_act.cu), called by
// kernels/gpu/bias_act.cpp. x, y, gy, gx are [rows, C] row-major; b is [C] or null. `act` is the value of
// fer::Activation (same order); clamp < 0 means none. Every launch runs on the device's current stream.
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

void launch_bias_act_forward(const void* x, const void* b, void* y, int64_t rows, int64_t C, int act, double alpha,
                             double gain, double clamp, DType dt, int device);

// gx (may be null) += dy/dx * gy. When gb is not null, also gb[c] += sum over rows of dy/dx * gy, deterministically:
// rows are cut into `chunks` fixed ranges, each range's column sums go to partials[k, :] (compute type: f64 for f64,
// f32 otherwise; at least chunks * C elements), then one pass adds the chunks in order.
void launch_bias_act_backward(const void* x, const void* b, const void* gy, void* gx, void* gb, void* partials,
                              int64_t chunks, int64_t rows, int64_t C, int act, double alpha, double gain, double clamp,
                              DType dt, int device);

}  // namespace fer::cuda
