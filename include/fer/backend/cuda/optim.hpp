#pragma once
// CUDA side of the optimizers and the gradient reductions of training (kernels/gpu/optim.cpp ->
// kernels/cuda/optim.cu): one kernel launch updates a whole list of parameters through a device table of their
// pointers, which is uploaded only when the list (or its buffers) changed since the previous launch of the same
// TableCache. Parameters and their state are f32 or f64 (a 16-bit model keeps f32 master weights: the caller's).
#include <cstdint>
#include <vector>

#include "fer/core/tensor.hpp"

namespace fer::gpu {

// The last table uploaded from this slot (host words and the device copy).
struct TableCache {
  std::vector<uint64_t> host;
  Tensor device;
};

// One parameter of a multi-tensor step: the parameter, its gradient and up to three state tensors (undefined =
// unused), all contiguous, of one dtype, on one CUDA device.
struct MultiTensorItem {
  Tensor p, g, s0, s1, s2;
};

// torch.optim.SGD's update (see fer/optim/sgd.hpp); s0 = momentum buffer (undefined without momentum).
void sgd_multi_step(TableCache& cache, const std::vector<MultiTensorItem>& items, double lr, double weight_decay,
                    double momentum, double dampening, bool nesterov, bool maximize, bool first);
// Adam / AdamW (see fer/optim/adam.hpp) for tensors that share the step count; s0 = exp_avg, s1 = exp_avg_sq,
// s2 = max_exp_avg_sq (amsgrad) or undefined.
void adam_multi_step(TableCache& cache, const std::vector<MultiTensorItem>& items, double lr, double weight_decay,
                     double beta1, double beta2, double eps, double step_size, double bias_correction2_sqrt,
                     bool decoupled, bool maximize);

// Gradient reductions over tensors on one CUDA device (any floating dtype; undefined tensors are skipped).
// sum of x^2 in double, deterministic (fixed two-pass decomposition); one number is copied back.
double sum_of_squares(const std::vector<Tensor>& ts);
// x = x * coef (through double, as the CPU loop).
void scale_(const std::vector<Tensor>& ts, double coef);
// x *= 1 / scale; returns whether every result is finite (one flag copied back).
bool unscale_and_check(const std::vector<Tensor>& ts, double scale);

}  // namespace fer::gpu
