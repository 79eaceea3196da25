#pragma once
// Launchers of the CUDA 2-d convolution: cuDNN calls (kernels/cuda/conv.cpp) and the layout kernels around them
// (kernels/cuda/conv.cu). Raw pointers; sizes in elements; every call runs on the device's stream.
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

// dst[n, hd, wd, c] (+)= src[n, hs, ws, c] where the pixel is inside both, 0 elsewhere (pads, crops, and their
// adjoints).
void window_copy(DType dt, const void* src, int64_t n, int64_t hs, int64_t ws, void* dst, int64_t hd, int64_t wd,
                 int64_t c, bool accumulate, int device);
// dst[b, cols, rows] (+)= src[b, rows, cols] transposed (NHWC <-> NCHW, OHWI <-> OIHW).
void batched_transpose(DType dt, const void* src, int64_t batch, int64_t rows, int64_t cols, void* dst, bool accumulate,
                       int device);

}  // namespace fer::cuda
