#pragma once
// Launchers of the hand-written depthwise convolution (kernels/cuda/depthwise_conv.cu): groups == c == o, NHWC
// activations, OHWI weight [c, kh, kw, 1], any stride / dilation / padding (bottom and right padding show through
// ho and wo). Each thread handles a vector of adjacent channels; sums run in f32 (f64 for f64).
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

struct DepthwiseConv {
  int64_t n = 0, h = 0, w = 0, c = 0, kh = 0, kw = 0, ho = 0, wo = 0;
  int64_t stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0, dil_h = 1, dil_w = 1;
};

// wt[kh * kw, c] = w[c, kh * kw] (taps outermost, so a tap's weights for adjacent channels are adjacent).
void depthwise_transpose_weight(DType dt, const DepthwiseConv& g, const void* w, void* wt, int device);
// y = depthwise conv(x, wt) + bias (bias may be null).
void depthwise_forward(DType dt, const DepthwiseConv& g, const void* x, const void* wt, const void* bias, void* y,
                       int device);
// gx += d conv / d x applied to gy.
void depthwise_backward_input(DType dt, const DepthwiseConv& g, const void* gy, const void* wt, void* gx, int device);
// Pixel chunks of the weight gradient; more than one needs a partials buffer.
int64_t depthwise_weight_grad_chunks(const DepthwiseConv& g);
// gw += d conv / d w applied to gy (gw in the OHWI layout [c, kh, kw, 1]), summed in a fixed order. `partials`
// holds chunks * kh * kw * c elements of the compute type (f64 for f64, else f32), or is null for one chunk.
void depthwise_backward_weight(DType dt, const DepthwiseConv& g, const void* gy, const void* x, void* gw,
                               void* partials, int device);

}  // namespace fer::cuda
