#pragma once
// Launchers of the per-sample ("grouped, one group per sample") convolution of the modulated convolution
// (kernels/cuda/modconv.cu) on cuDNN (f32) or direct kernels (f64, which cuDNN has no NHWC kernels for).
#include <cstddef>
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

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
