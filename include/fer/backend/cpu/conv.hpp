#pragma once
// CPU 2-d convolution kernels (kernels/cpu/conv.cpp): NHWC activations, OHWI weights. Inputs contiguous;
// gradients accumulate (+=) into their buffers.
#include <cstdint>

#include "fer/core/tensor.hpp"

namespace fer::cpu {

// One convolution's sizes: input [n, h, w, c], weight [o, kh, kw, c / groups], output [n, ho, wo, o].
// Bottom/right padding only shows through ho and wo.
struct ConvGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0;
  int64_t o = 0, kh = 0, kw = 0;
  int64_t ho = 0, wo = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t groups = 1;
};

enum class ConvAlgo {
  pointwise,  // 1x1, stride 1, unpadded, one group: the input already is the patch matrix
  im2col,     // patch matrix per tile of output pixels, then a GEMM per group
  depthwise,  // one input channel per group: a direct kernel vectorized over channels
};

// How the kernels run one convolution and how much scratch memory they need. Fixed when the op is
// created, so the workspaces are allocated before recording and a replay allocates nothing.
struct ConvPlan {
  ConvGeometry g;
  ConvAlgo algo = ConvAlgo::im2col;
  int64_t slots = 1;                  // independent workers, each with its own slice of the workspaces
  int64_t tile = 1;                   // output pixels per patch-matrix tile (im2col)
  int64_t workspace = 0;              // elements: patch-matrix tiles, or depthwise weights as [kh, kw, o]
  int64_t weight_grad_workspace = 0;  // elements: per-worker partial weight gradients
};
ConvPlan plan_conv2d(const ConvGeometry& g);

// y = conv(x, w) + bias (bias may be undefined). `workspace` holds plan.workspace elements (or is undefined
// when that is 0).
void conv2d_forward(const ConvPlan& plan, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                    const Tensor& workspace);
// gx += d conv / d x applied to gy.
void conv2d_backward_input(const ConvPlan& plan, const Tensor& gy, const Tensor& w, const Tensor& gx,
                           const Tensor& workspace);
// gw += d conv / d w applied to gy. `partials` holds plan.weight_grad_workspace elements; when undefined the
// work runs on one worker.
void conv2d_backward_weight(const ConvPlan& plan, const Tensor& gy, const Tensor& x, const Tensor& gw,
                            const Tensor& workspace, const Tensor& partials);
// gb += sum of gy over all output pixels.
void conv2d_backward_bias(const ConvPlan& plan, const Tensor& gy, const Tensor& gb);

}  // namespace fer::cpu
