#pragma once
// Launchers of the normalization kernels (kernels/cuda/norm.cu), called by kernels/gpu/norm.cpp. Data are
// contiguous [m, c] (channels last); `acc` is the f64 workspace of (2 * chunks + 2) * c values (NormWorkspace::acc),
// `chunks` the fixed row partition of the column reductions (cpu::norm_row_chunks). Gradients accumulate (+=);
// a null gradient pointer is skipped. Every reduction accumulates in double, in a fixed order (deterministic).
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

void launch_batch_norm_stats(DType dt, const void* x, int64_t m, int64_t c, int64_t chunks, double* acc, void* mean,
                             void* invstd, void* var, double eps, int device);
void launch_batch_norm_apply(DType dt, const void* x, int64_t m, int64_t c, const void* mean, const void* invstd,
                             const void* weight, const void* bias, double* acc, void* y, bool relu, int device);
// (relu: y = max(y, 0) in the same pass, the forward half of a fused BN+ReLU.)
// relu_out (may be null): the output of a fused BN+ReLU; gy then passes only where it is positive.
void launch_batch_norm_backward(DType dt, const void* x, const void* mean, const void* invstd, const void* weight,
                                const void* gy, int64_t m, int64_t c, int64_t chunks, bool batch_stats, double* acc,
                                void* gx, void* gweight, void* gbias, const void* relu_out, int device);
void launch_inverse_std(DType dt, const void* var, void* invstd, int64_t n, double eps, int device);
void launch_running_update(DType dt, void* running, const void* value, int64_t n, double momentum, double scale,
                           int device);
void launch_layer_norm_forward(DType dt, const void* x, const void* weight, const void* bias, int64_t m, int64_t c,
                               double eps, void* y, void* mean, void* invstd, int device);
void launch_layer_norm_backward(DType dt, const void* x, const void* weight, const void* mean, const void* invstd,
                                const void* gy, int64_t m, int64_t c, int64_t chunks, double* acc, void* gx,
                                void* gweight, void* gbias, int device);
// *p += 1 on the device (num_batches_tracked, without a host round trip).
void launch_increment_i64(int64_t* p, int device);

}  // namespace fer::cuda
