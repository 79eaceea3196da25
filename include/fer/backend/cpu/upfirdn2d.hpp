#pragma once
// CPU kernels for upfirdn2d (kernels/cpu/upfirdn2d.cpp): upsample by zero insertion, pad/crop, FIR filter,
// downsample, on NHWC activations. Inputs are contiguous; gradients accumulate.
#include "fer/core/tensor.hpp"

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

namespace cpu {

// y[N, OH, OW, C] = upfirdn2d(x[N, H, W, C]) with f [fh, fw] (f has x's dtype).
void upfirdn2d_forward(const Tensor& x, const Tensor& f, const Tensor& y, const UpFirDnParams& p);
// gx[N, H, W, C] += the adjoint of upfirdn2d applied to gy[N, OH, OW, C].
void upfirdn2d_backward(const Tensor& f, const Tensor& gy, const Tensor& gx, const UpFirDnParams& p);

}  // namespace cpu
}  // namespace fer
