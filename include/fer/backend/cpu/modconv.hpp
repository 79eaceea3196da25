#pragma once
// CPU kernels for StyleGAN2's modulated convolution (kernels/cpu/modconv.cpp): weight modulation and
// demodulation, and the layout moves between a batch and the channels of one grouped image. Inputs
// contiguous; gradients accumulate.
#include "fer/core/tensor.hpp"

namespace fer::cpu {

// Where the modulated weight W'[n, o, k, i] (k = ky * kw + kx) is written.
enum class ModulatedLayout {
  per_sample,  // [N, O, kh, kw, I]: one OHWI weight per sample; viewed [N*O, kh, kw, I] it is the weight of
               // the grouped convolution (groups = N) of the batch folded into channels
  transposed,  // [N, I, kh, kw, O]: the weight of the grouped transposed convolution (input channel first)
};

// W'[n, o, k, i] = w[o, k, i] * s[n, i], times dcoef[n, o] = 1 / sqrt(sum_{k,i} W'^2 + eps) when `dcoef` is
// defined (demodulation; written here). `flip` stores the kernel rotated by 180 degrees (k -> kh*kw-1-k).
// w [O, kh, kw, I], s [N, I], y [N*O*kh*kw*I elements] in `layout`, dcoef [N, O] or undefined.
void modulate_weights_forward(const Tensor& w, const Tensor& s, const Tensor& y, const Tensor& dcoef,
                              ModulatedLayout layout, bool flip, double eps);
// gw += d/dw, gs += d/ds of <y, gy> (either may be undefined). `dot` is scratch [N, O] (used with dcoef).
void modulate_weights_backward(const Tensor& w, const Tensor& s, const Tensor& dcoef, const Tensor& gy,
                               const Tensor& gw, const Tensor& gs, const Tensor& dot, ModulatedLayout layout,
                               bool flip);

// y[0, h, w, n*C + c] (+)= x[n, h, w, c]: a batch [N, H, W, C] as one image with the samples' channels side by
// side [1, H, W, N*C] (NHWC's counterpart of NCHW's free reshape [N, C, H, W] -> [1, N*C, H, W]).
void fold_batch_into_channels(const Tensor& x, const Tensor& y, bool accumulate);
// The inverse: x[n, h, w, c] (+)= y[0, h, w, n*C + c].
void unfold_channels_into_batch(const Tensor& y, const Tensor& x, bool accumulate);

}  // namespace fer::cpu
