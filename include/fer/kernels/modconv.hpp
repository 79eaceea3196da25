#pragma once
// Kernel contract: StyleGAN2's weight modulation and demodulation (the weight half of the modulated convolution).
// Defined by kernels/cpu/modconv.cpp and kernels/cuda/modconv.cu (f32 and f64 there); a build without CUDA links
// kernels/no_cuda/modconv.cpp. Tensors contiguous, of one dtype, on one device; gradients accumulate (+=).
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// Where the modulated weight W'[n, o, k, i] (k = ky * kw + kx) is written.
enum class ModulatedLayout {
  per_sample,  // [N, O, kh, kw, I]: one OHWI weight per sample (the grouped convolution's [N*O, kh, kw, I])
  transposed,  // [N, I, kh, kw, O]: one weight per sample for the transposed convolution (input channel first)
};

// w [O, kh, kw, I], s [N, I], y (or gy) [N*O*kh*kw*I elements] in `layout`, dcoef [N, O] or undefined (no
// demodulation). `flip` stores the kernel rotated by 180 degrees (k -> kh*kw-1-k).
struct ModulateForwardArgs {
  TensorRef w, s, y, dcoef;
  ModulatedLayout layout;
  bool flip;
  double eps;
};
// gw, gs may be undefined (not wanted); `dot` is scratch [N, O], needed with dcoef.
struct ModulateBackwardArgs {
  TensorRef w, s, dcoef, gy, gw, gs, dot;
  ModulatedLayout layout;
  bool flip;
};

// W'[n, o, k, i] = w[o, k, i] * s[n, i], times dcoef[n, o] = 1 / sqrt(sum_{k,i} W'^2 + eps) when dcoef is defined
// (demodulation; written here).
void modulate_weights_forward_cpu(const ModulateForwardArgs&);
void modulate_weights_forward_cuda(const ModulateForwardArgs&);
inline void modulate_weights_forward(const ModulateForwardArgs& a) {
  run_on(a.w, modulate_weights_forward_cpu, modulate_weights_forward_cuda, a);
}

// gw += d/dw, gs += d/ds of <y, gy>.
void modulate_weights_backward_cpu(const ModulateBackwardArgs&);
void modulate_weights_backward_cuda(const ModulateBackwardArgs&);
inline void modulate_weights_backward(const ModulateBackwardArgs& a) {
  run_on(a.w, modulate_weights_backward_cpu, modulate_weights_backward_cuda, a);
}

}  // namespace fer::kernels
