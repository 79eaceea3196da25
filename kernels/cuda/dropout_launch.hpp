#pragma once
// Launchers of the dropout / stochastic-depth kernels (kernels/cuda/dropout.cu), called by kernels/gpu/dropout.cpp.
// Masks come from a counter-based hash of (key, group index): no generator state lives on the device, so a replayed
// step with a new key draws a new mask, and the same key always gives the same mask.
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// mask[g] = (u(key, g) < p) ? 0 : scale for g < groups, with u uniform in [0, 1) (53 bits); mask has dtype dt.
void launch_dropout_mask(void* mask, int64_t groups, uint64_t key, double p, double scale, DType dt, int device);
// y[i] = x[i] * mask[i / group] for i < n (mask of dtype mask_dt, x and y of dtype dt).
void launch_masked_scale_forward(const void* x, const void* mask, void* y, int64_t n, int64_t group, DType dt,
                                 DType mask_dt, int device);
// gx[i] += gy[i] * mask[i / group]
void launch_masked_scale_backward(const void* gy, const void* mask, void* gx, int64_t n, int64_t group, DType dt,
                                  DType mask_dt, int device);

}  // namespace fer::cuda
