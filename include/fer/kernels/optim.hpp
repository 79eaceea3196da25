#pragma once
// Kernel contract: the optimizers' updates and the gradient reductions of training (clipping, loss scaling).
// Defined by kernels/cpu/optim.cpp and kernels/cuda/optim.cu; a build without CUDA links kernels/no_cuda/optim.cpp.
// One call updates a list of parameters: the CPU runs all their elements in one parallel region, CUDA in one kernel
// launch through a device table of their pointers (uploaded only when the list or its buffers changed since the
// previous call with the same TableCache). Parameters and their state are f32 or f64 (a 16-bit model keeps f32
// master weights: the caller's business); the arithmetic is the same on both sides.
#include <cstdint>
#include <memory>
#include <vector>

#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// The table a CUDA call last uploaded from this slot: host words and the device copy (the CPU does not use it).
struct TableCache {
  std::vector<uint64_t> host;
  std::shared_ptr<void> device;  // device words, given back to the device's caching allocator when dropped
  size_t capacity_words = 0;
  int device_index = -1;
};

// One parameter of a multi-tensor step: the parameter, its gradient and up to three state tensors (undefined =
// unused), all contiguous, of one dtype, on one device.
struct MultiTensorItem {
  TensorRef p, g, s0, s1, s2;
};

// s0 = momentum buffer (undefined without momentum); `first`: the buffers start as d (their first step).
struct SgdStepArgs {
  TableCache* cache = nullptr;
  std::vector<MultiTensorItem> items;
  double lr = 0, weight_decay = 0, momentum = 0, dampening = 0;
  bool nesterov = false, maximize = false, first = false;
};

// torch.optim.SGD's update of every item (see fer/optim/sgd.hpp)
void sgd_multi_step_cpu(const SgdStepArgs&);
void sgd_multi_step_cuda(const SgdStepArgs&);
inline void sgd_multi_step(const SgdStepArgs& a) {
  if (!a.items.empty()) run_on(a.items.front().p, sgd_multi_step_cpu, sgd_multi_step_cuda, a);
}

// Items that share the step count: s0 = exp_avg, s1 = exp_avg_sq, s2 = max_exp_avg_sq (amsgrad) or undefined.
// step_size = lr / (1 - beta1^t), bias_correction2_sqrt = sqrt(1 - beta2^t), both computed in double by the caller;
// `decoupled`: AdamW's weight decay.
struct AdamStepArgs {
  TableCache* cache = nullptr;
  std::vector<MultiTensorItem> items;
  double lr = 0, weight_decay = 0, beta1 = 0, beta2 = 0, eps = 0, step_size = 0, bias_correction2_sqrt = 1;
  bool decoupled = false, maximize = false;
};

// Adam / AdamW's update of every item (see fer/optim/adam.hpp)
void adam_multi_step_cpu(const AdamStepArgs&);
void adam_multi_step_cuda(const AdamStepArgs&);
inline void adam_multi_step(const AdamStepArgs& a) {
  if (!a.items.empty()) run_on(a.items.front().p, adam_multi_step_cpu, adam_multi_step_cuda, a);
}

// Gradients of one device (any floating dtype on CUDA, f32/f64 on the CPU; undefined ones are skipped), contiguous.
struct GradListArgs {
  std::vector<TensorRef> grads;
  double factor = 1.0;    // scale_grads: the coefficient; unscale_and_check: the loss scale
  double* sum = nullptr;  // sum_of_squares: accumulates here
  bool* finite = nullptr; // unscale_and_check: set to false when a result is Inf or NaN
};

// Runs a gradient kernel on the device of the list's first defined gradient (nothing for an empty list).
inline void run_on_grads(const GradListArgs& a, void (*cpu)(const GradListArgs&), void (*cuda)(const GradListArgs&)) {
  for (const TensorRef& g : a.grads)
    if (g.defined()) return run_on(g, cpu, cuda, a);
}

// *sum += the sum of x^2 over every gradient, in double (CUDA: a deterministic two-pass reduction, one number back)
void sum_of_squares_cpu(const GradListArgs&);
void sum_of_squares_cuda(const GradListArgs&);
inline void sum_of_squares(const GradListArgs& a) { run_on_grads(a, sum_of_squares_cpu, sum_of_squares_cuda); }

// x = x * factor, through double
void scale_grads_cpu(const GradListArgs&);
void scale_grads_cuda(const GradListArgs&);
inline void scale_grads(const GradListArgs& a) { run_on_grads(a, scale_grads_cpu, scale_grads_cuda); }

// x *= T(1 / factor); *finite = false when a result is Inf or NaN (CUDA: one flag back)
void unscale_and_check_cpu(const GradListArgs&);
void unscale_and_check_cuda(const GradListArgs&);
inline void unscale_and_check(const GradListArgs& a) {
  run_on_grads(a, unscale_and_check_cpu, unscale_and_check_cuda);
}

}  // namespace fer::kernels
