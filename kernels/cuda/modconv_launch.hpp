#pragma once
// Launchers of the modulated-convolution kernels (kernels/cuda/modconv.cu): weight modulation/demodulation, and
// the per-sample ("grouped, one group per sample") convolution on cuDNN (f32) or direct kernels (f64, which cuDNN
// has no NHWC kernels for).
#include <cstddef>
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// W'[n, o, k, i] = w[o, k, i] * s[n, i] (* dcoef[n, o]), written at the layout's position (k reversed when flip).
struct ModGeom {
  int64_t n, o, k, i;  // samples, output channels, kernel taps, input channels
  bool transposed;     // layout [N, I, K, O] instead of [N, O, K, I]
  bool flip;
};
// dcoef may be null (no demodulation).
void modulate_forward_launch(const ModGeom& g, const void* w, const void* s, void* y, void* dcoef, double eps,
                             DType dtype, int device);
// gw / gs may be null; dcoef null = no demodulation, else `dot` is [N, O] scratch.
void modulate_backward_launch(const ModGeom& g, const void* w, const void* s, const void* dcoef, const void* gy,
                              void* gw, void* gs, void* dot, DType dtype, int device);

// A grouped convolution A: input [1, h, w, groups*c] -> output [1, ho, wo, groups*o], weight [groups*o, kh, kw, c]
// (NHWC / KRSC), cross-correlation with `stride` and symmetric zero padding (pad_h, pad_w).
struct GroupConvGeom {
  int64_t groups, h, w, c, o, kh, kw, ho, wo, stride, pad_h, pad_w;
};
enum class ConvPass {
  forward,          // out = A(in)             a = in,   b = weight, out = output
  backward_data,    // out = A^T(gout)         a = gout, b = weight, out = input-shaped
  backward_filter,  // out = dA/dw (in, gout)  a = in,   b = gout,   out = weight-shaped
};
// Scratch bytes the pass needs (chooses the algorithm once per geometry, pass, dtype and device, and caches it).
size_t group_conv_workspace(const GroupConvGeom& g, ConvPass pass, DType dtype, int device);
// out = A-pass(a, b) + beta * out, with beta 0 (overwrite) or 1 (accumulate). `ws` holds `ws_bytes` >=
// group_conv_workspace(...) bytes of device memory (may be null when that is 0).
void group_conv_launch(const GroupConvGeom& g, ConvPass pass, const void* a, const void* b, void* out, double beta,
                       void* ws, size_t ws_bytes, DType dtype, int device);

}  // namespace fer::cuda
