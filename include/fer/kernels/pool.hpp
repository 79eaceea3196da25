#pragma once
// Kernel contract: 2-d pooling on NHWC tensors. Defined by kernels/cpu/pool.cpp and kernels/cuda/pool.cu; a build
// without CUDA links kernels/no_cuda/pool.cpp. Tensors contiguous, on one device; gradients accumulate (+=). The
// CUDA backward passes gather per input element (no atomics): deterministic, and for f32/f64 summed in the CPU's
// order.
#include "fer/kernels/tensor_ref.hpp"

namespace fer::kernels {

// Input [n, h, w, c], output [n, ho, wo, c]; window kh x kw, stride sh, sw, padding ph, pw, dilation dh, dw.
struct PoolGeometry {
  int64_t n, h, w, c, ho, wo;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool count_include_pad;
};

// x, y and argmax (i32) [n, ho, wo, c].
struct MaxPool2dArgs {
  PoolGeometry g;
  TensorRef x, y, argmax;
};

// y = max over each window; argmax = input spatial index ih * w + iw of the chosen element (PyTorch's
// return_indices). The first maximum wins and the last NaN wins, as PyTorch's CPU kernel; a window with no input
// pixel (possible only with dilation) gives -inf and index -1, which backward skips.
void max_pool2d_forward_cpu(const MaxPool2dArgs&);
void max_pool2d_forward_cuda(const MaxPool2dArgs&);
inline void max_pool2d_forward(const MaxPool2dArgs& a) {
  run_on(a.x, max_pool2d_forward_cpu, max_pool2d_forward_cuda, a);
}

// Without `accumulate` the pooling backwards write gx (=), zero where no window reaches, and never read it (a first
// writer of a recorded step, fer/autograd/written_grads.hpp).
struct MaxPool2dBackwardArgs {
  PoolGeometry g;
  TensorRef gy, argmax, gx;
  bool accumulate = true;
};

// gx[argmax] (+)= gy.
void max_pool2d_backward_cpu(const MaxPool2dBackwardArgs&);
void max_pool2d_backward_cuda(const MaxPool2dBackwardArgs&);
inline void max_pool2d_backward(const MaxPool2dBackwardArgs& a) {
  run_on(a.gy, max_pool2d_backward_cpu, max_pool2d_backward_cuda, a);
}

struct AvgPool2dArgs {
  PoolGeometry g;
  TensorRef x, y;
};

// y = average over the window clipped to the input; the divisor is PyTorch's (see avg_pool2d in ops/pool.hpp).
void avg_pool2d_forward_cpu(const AvgPool2dArgs&);
void avg_pool2d_forward_cuda(const AvgPool2dArgs&);
inline void avg_pool2d_forward(const AvgPool2dArgs& a) {
  run_on(a.x, avg_pool2d_forward_cpu, avg_pool2d_forward_cuda, a);
}

struct AvgPool2dBackwardArgs {
  PoolGeometry g;
  TensorRef gy, gx;
  bool accumulate = true;
};

// gx (+)= the adjoint of avg_pool2d_forward applied to gy.
void avg_pool2d_backward_cpu(const AvgPool2dBackwardArgs&);
void avg_pool2d_backward_cuda(const AvgPool2dBackwardArgs&);
inline void avg_pool2d_backward(const AvgPool2dBackwardArgs& a) {
  run_on(a.gy, avg_pool2d_backward_cpu, avg_pool2d_backward_cuda, a);
}

// x [n, h, w, c] -> y [n, ho, wo, c]: the sizes come from the tensors.
struct AdaptiveAvgPool2dArgs {
  TensorRef x, y;
};

// Adaptive average pooling: window i covers [floor(i * h / ho), ceil((i + 1) * h / ho)), likewise for columns.
void adaptive_avg_pool2d_forward_cpu(const AdaptiveAvgPool2dArgs&);
void adaptive_avg_pool2d_forward_cuda(const AdaptiveAvgPool2dArgs&);
inline void adaptive_avg_pool2d_forward(const AdaptiveAvgPool2dArgs& a) {
  run_on(a.x, adaptive_avg_pool2d_forward_cpu, adaptive_avg_pool2d_forward_cuda, a);
}

// gy [n, ho, wo, c] -> gx [n, h, w, c].
struct AdaptiveAvgPool2dBackwardArgs {
  TensorRef gy, gx;
  bool accumulate = true;
};

// gx (+)= the adjoint of adaptive_avg_pool2d_forward applied to gy.
void adaptive_avg_pool2d_backward_cpu(const AdaptiveAvgPool2dBackwardArgs&);
void adaptive_avg_pool2d_backward_cuda(const AdaptiveAvgPool2dBackwardArgs&);
inline void adaptive_avg_pool2d_backward(const AdaptiveAvgPool2dBackwardArgs& a) {
  run_on(a.gy, adaptive_avg_pool2d_backward_cpu, adaptive_avg_pool2d_backward_cuda, a);
}

}  // namespace fer::kernels
