#pragma once
// CPU kernels for 2-d pooling on NHWC tensors (kernels/cpu/pool.cpp). Gradients accumulate.
#include "fer/core/tensor.hpp"

namespace fer::cpu {

struct PoolGeometry {
  int64_t n, h, w, c, ho, wo;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool count_include_pad;
};

// y = max over each window; argmax (i32) [n, oh, ow, c] = input spatial index ih * W + iw of the chosen element
// (PyTorch's return_indices). The first maximum wins and the last NaN wins, as PyTorch's CPU kernel; a window with
// no input pixel (possible only with dilation) gives -inf and index -1, which backward skips.
void max_pool2d_forward(const PoolGeometry& g, const Tensor& x, const Tensor& y, const Tensor& argmax);
void max_pool2d_backward(const PoolGeometry& g, const Tensor& gy, const Tensor& argmax, const Tensor& gx);
// Average over the window clipped to the input; the divisor is PyTorch's (see avg_pool2d in ops/pool.hpp).
void avg_pool2d_forward(const PoolGeometry& g, const Tensor& x, const Tensor& y);
void avg_pool2d_backward(const PoolGeometry& g, const Tensor& gy, const Tensor& gx);
// Adaptive average pooling: window i covers [floor(i*H/out), ceil((i+1)*H/out)).
void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& y);
void adaptive_avg_pool2d_backward(const Tensor& gy, const Tensor& gx);

}  // namespace fer::cpu
