#pragma once
// Kernel contract: 2-d convolution, NHWC activations, OHWI weights. Defined by kernels/cpu/conv.cpp (im2col + GEMM,
// direct depthwise) and kernels/cuda/conv.cu (cuDNN, or a hand-written depthwise kernel); a build without CUDA
// links kernels/no_cuda/conv.cpp. Tensors contiguous, of one dtype, on one device; gradients accumulate (+=).
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

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

// How the CPU kernels run a convolution.
enum class ConvAlgo {
  pointwise,  // 1x1, stride 1, unpadded, one group: the input already is the patch matrix
  im2col,     // patch matrix per tile of output pixels, then a GEMM per group
  depthwise,  // one input channel per group: a direct kernel vectorized over channels
};

// How the kernels run one convolution and how much scratch memory the CPU kernels need. Fixed when the op is
// created, so the workspaces are allocated before recording and a replay allocates nothing. The CUDA definitions
// read only `g`: their scratch memory comes from the device's caching allocator.
struct ConvPlan {
  ConvGeometry g;
  ConvAlgo algo = ConvAlgo::im2col;
  int64_t slots = 1;                  // independent workers, each with its own slice of the workspaces
  int64_t tile = 1;                   // output pixels per patch-matrix tile (im2col)
  int64_t workspace = 0;              // elements: patch-matrix tiles, or depthwise weights as [kh, kw, o]
  int64_t weight_grad_workspace = 0;  // elements: per-worker partial weight gradients
};
// The plan of a convolution for this machine's threads (defined in kernels/cpu/conv.cpp).
ConvPlan plan_conv2d(const ConvGeometry& g);

// Whether the CUDA definitions run the hand-written depthwise kernel: groups == c == o (> 1) with kernels up to 7x7,
// where cuDNN's NHWC depthwise kernels are slow; a channel multiplier or a larger kernel goes to cuDNN.
inline bool conv2d_uses_depthwise_kernel(const ConvGeometry& g) {
  return g.groups > 1 && g.groups == g.c && g.o == g.c && g.kh <= 7 && g.kw <= 7;
}

// x [n, h, w, c], w [o, kh, kw, c / groups], bias undefined or [o], y [n, ho, wo, o]; `workspace` holds
// plan.workspace elements of x's dtype on the CPU (undefined when that is 0, and on CUDA).
struct Conv2dForwardArgs {
  ConvPlan plan;
  TensorRef x, w, bias, y, workspace;
};

// y = conv(x, w) + bias.
void conv2d_forward_cpu(const Conv2dForwardArgs&);
void conv2d_forward_cuda(const Conv2dForwardArgs&);
inline void conv2d_forward(const Conv2dForwardArgs& a) { run_on(a.x, conv2d_forward_cpu, conv2d_forward_cuda, a); }

// Without `accumulate` gx is written (=), never read (a first writer of a recorded step,
// fer/autograd/written_grads.hpp).
struct Conv2dBackwardInputArgs {
  ConvPlan plan;
  TensorRef gy, w, gx, workspace;
  bool accumulate = true;
};

// gx (+)= d conv / d x applied to gy.
void conv2d_backward_input_cpu(const Conv2dBackwardInputArgs&);
void conv2d_backward_input_cuda(const Conv2dBackwardInputArgs&);
inline void conv2d_backward_input(const Conv2dBackwardInputArgs& a) {
  run_on(a.gy, conv2d_backward_input_cpu, conv2d_backward_input_cuda, a);
}

// `partials` holds plan.weight_grad_workspace elements on the CPU; when undefined the work runs on one worker.
struct Conv2dBackwardWeightArgs {
  ConvPlan plan;
  TensorRef gy, x, gw, workspace, partials;
};

// gw += d conv / d w applied to gy.
void conv2d_backward_weight_cpu(const Conv2dBackwardWeightArgs&);
void conv2d_backward_weight_cuda(const Conv2dBackwardWeightArgs&);
inline void conv2d_backward_weight(const Conv2dBackwardWeightArgs& a) {
  run_on(a.gy, conv2d_backward_weight_cpu, conv2d_backward_weight_cuda, a);
}

struct Conv2dBackwardBiasArgs {
  ConvPlan plan;
  TensorRef gy, gb;
};

// gb += sum of gy over all output pixels.
void conv2d_backward_bias_cpu(const Conv2dBackwardBiasArgs&);
void conv2d_backward_bias_cuda(const Conv2dBackwardBiasArgs&);
inline void conv2d_backward_bias(const Conv2dBackwardBiasArgs& a) {
  run_on(a.gy, conv2d_backward_bias_cpu, conv2d_backward_bias_cuda, a);
}

}  // namespace fer::kernels
