#pragma once
// The two engines the CUDA convolution (the conv contract's CUDA side, kernels/cuda/conv.cu) chooses between, each in
// its own translation unit: cuDNN (kernels/cuda/conv.cpp, plain C++ against cudnn.h) and the hand-written depthwise
// kernel (kernels/cuda/depthwise_conv.cu). Private to kernels/cuda and to bench_cuda_kernels, which times the two
// against each other. Raw pointers; sizes in elements; every call runs on the device's stream.
#include <cstddef>
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// A convolution as cuDNN sees it: input [n, h, w, c], filter [o, kh, kw, c / groups], output [n, ho, wo, o],
// the same padding on both sides of a dimension, and ho / wo equal to cuDNN's own output size.
struct CudnnConv {
  int64_t n = 0, h = 0, w = 0, c = 0, o = 0, kh = 0, kw = 0, ho = 0, wo = 0;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
};

enum class ConvPass { forward, backward_data, backward_filter };

// Layout handed to cuDNN: NHWC activations with a KRSC (OHWI) filter, or NCHW with KCRS (OIHW), used for f64 and
// wherever cuDNN has no NHWC algorithm (the caller transposes).
enum class ConvLayout { nhwc, nchw };

// Whether cuDNN has an algorithm for all three passes in NHWC (chosen once per geometry, dtype and TF32 setting).
bool cudnn_conv_nhwc_supported(const CudnnConv& g, DType dt, int device);
// Workspace bytes of a pass; the algorithm is chosen (heuristically, deterministic ones preferred) and cached.
size_t cudnn_conv_workspace(const CudnnConv& g, DType dt, ConvLayout layout, ConvPass pass, int device);
// y (+)= conv(x, w).
void cudnn_conv_forward(const CudnnConv& g, DType dt, ConvLayout layout, const void* x, const void* w, void* y,
                        bool accumulate, void* workspace, size_t workspace_bytes, int device);
// gx (+)= d conv / d x applied to gy.
void cudnn_conv_backward_data(const CudnnConv& g, DType dt, ConvLayout layout, const void* gy, const void* w, void* gx,
                              bool accumulate, void* workspace, size_t workspace_bytes, int device);
// gw (+)= d conv / d w applied to gy.
void cudnn_conv_backward_filter(const CudnnConv& g, DType dt, ConvLayout layout, const void* gy, const void* x,
                                void* gw, bool accumulate, void* workspace, size_t workspace_bytes, int device);

// The hand-written depthwise convolution: groups == c == o, NHWC activations, OHWI weight [c, kh, kw, 1], any
// stride / dilation / padding (bottom and right padding show through ho and wo). Each thread handles a vector of
// adjacent channels; sums run in f32 (f64 for f64).
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
