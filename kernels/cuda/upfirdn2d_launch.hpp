#pragma once
// Launchers of the upfirdn2d kernels (kernels/cuda/upfirdn2d.cu): raw device pointers, NHWC sizes.
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

struct UpFirDnGeom {
  int64_t n, h, w, c;    // input [n, h, w, c]
  int64_t fh, fw;        // filter [fh, fw]
  int64_t oh, ow;        // output [n, oh, ow, c]
  int64_t up_x, up_y, down_x, down_y, pad_x0, pad_y0;
  bool flip;
  double gain;
};

// y = upfirdn2d(x) (overwrites y).
void upfirdn2d_forward_launch(const UpFirDnGeom& g, const void* x, const void* f, void* y, DType dtype, int device);
// gx += adjoint(gy).
void upfirdn2d_backward_launch(const UpFirDnGeom& g, const void* f, const void* gy, void* gx, DType dtype, int device);

}  // namespace fer::cuda
