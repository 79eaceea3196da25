#pragma once
// Kernel contract: upfirdn2d (upsample by zero insertion, pad/crop, FIR filter, downsample) on NHWC activations.
// Defined by kernels/cpu/upfirdn2d.cpp and kernels/cuda/upfirdn2d.cu (f32, f64, and f16/bf16 with f32 arithmetic
// there); a build without CUDA links kernels/no_cuda/upfirdn2d.cpp.
#include "fer/kernels/tensor_ref.hpp"

namespace fer {

// The parameters of upfirdn2d (shared by the op layer and every backend).
//   1. upsample: each input sample is followed by up-1 zeros (H -> H*up_y, W -> W*up_x);
//   2. pad: pad_*0 zeros before, pad_*1 after; a negative pad crops instead;
//   3. filter: a true 2-D convolution with the [fh, fw] filter times `gain` (flip_filter = true turns it into a
//      correlation, i.e. the filter is used as stored);
//   4. downsample: keep samples 0, down, 2*down, ...
// Output height: (H*up_y + pad_y0 + pad_y1 - fh) / down_y + 1 (integer division), likewise the width.
struct UpFirDnParams {
  int64_t up_x = 1, up_y = 1;
  int64_t down_x = 1, down_y = 1;
  int64_t pad_x0 = 0, pad_x1 = 0, pad_y0 = 0, pad_y1 = 0;
  bool flip_filter = false;
  double gain = 1.0;
};

}  // namespace fer

namespace fer::kernels {

// x [N, H, W, C] and y [N, OH, OW, C] (or their gradients), filter f [fh, fw] of their dtype, all contiguous on one
// device.
struct UpFirDnForwardArgs {
  TensorRef x, f, y;
  UpFirDnParams p;
};
struct UpFirDnBackwardArgs {
  TensorRef f, gy, gx;
  UpFirDnParams p;
};

// y = upfirdn2d(x) with filter f (overwrites y).
void upfirdn2d_forward_cpu(const UpFirDnForwardArgs&);
void upfirdn2d_forward_cuda(const UpFirDnForwardArgs&);
inline void upfirdn2d_forward(const UpFirDnForwardArgs& a) {
  run_on(a.x, upfirdn2d_forward_cpu, upfirdn2d_forward_cuda, a);
}

// gx += the adjoint of upfirdn2d applied to gy.
void upfirdn2d_backward_cpu(const UpFirDnBackwardArgs&);
void upfirdn2d_backward_cuda(const UpFirDnBackwardArgs&);
inline void upfirdn2d_backward(const UpFirDnBackwardArgs& a) {
  run_on(a.f, upfirdn2d_backward_cpu, upfirdn2d_backward_cuda, a);
}

}  // namespace fer::kernels
