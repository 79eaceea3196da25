// Tensor-level glue of the CUDA upfirdn2d: checks devices and dtypes, unpacks sizes, calls the launchers.
#include "fer/backend/cuda/upfirdn2d.hpp"

#include "kernels/cuda/upfirdn2d_launch.hpp"

namespace fer::gpu {

namespace {

cuda::UpFirDnGeom geom(const Tensor& x, const Tensor& f, const Tensor& y, const UpFirDnParams& p) {
  cuda::UpFirDnGeom g{};
  g.n = x.size(0), g.h = x.size(1), g.w = x.size(2), g.c = x.size(3);
  g.fh = f.size(0), g.fw = f.size(1);
  g.oh = y.size(1), g.ow = y.size(2);
  g.up_x = p.up_x, g.up_y = p.up_y, g.down_x = p.down_x, g.down_y = p.down_y;
  g.pad_x0 = p.pad_x0, g.pad_y0 = p.pad_y0;
  g.flip = p.flip_filter;
  g.gain = p.gain;
  return g;
}

void check(const char* op, const Tensor& a, const Tensor& f, const Tensor& b) {
  for (const Tensor* t : {&a, &f, &b}) {
    FER_CHECK(t->device().is_cuda() && t->device() == a.device(), op, ": tensors must be on one CUDA device, got ",
              t->str(), " and ", a.str());
    FER_CHECK(t->is_contiguous() && t->dtype() == a.dtype(), op, ": contiguous tensors of one dtype expected, got ",
              t->str());
  }
  FER_CHECK(a.dim() == 4 && b.dim() == 4 && f.dim() == 2 && a.size(0) == b.size(0) && a.size(3) == b.size(3), op,
            ": shapes ", a.shape().str(), ", ", f.shape().str(), ", ", b.shape().str());
}

}  // namespace

void upfirdn2d_forward(const Tensor& x, const Tensor& f, const Tensor& y, const UpFirDnParams& p) {
  check("upfirdn2d", x, f, y);
  cuda::upfirdn2d_forward_launch(geom(x, f, y, p), x.raw_data(), f.raw_data(), y.raw_data(), x.dtype(),
                                 x.device().index);
}

void upfirdn2d_backward(const Tensor& f, const Tensor& gy, const Tensor& gx, const UpFirDnParams& p) {
  if (!gx.defined()) return;
  check("upfirdn2d backward", gx, f, gy);
  cuda::upfirdn2d_backward_launch(geom(gx, f, gy, p), f.raw_data(), gy.raw_data(), gx.raw_data(), gx.dtype(),
                                  gx.device().index);
}

}  // namespace fer::gpu
