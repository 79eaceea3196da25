#pragma once
// upfirdn2d: upsample (zero insertion), pad/crop, FIR filter, downsample -- the resampling op of the StyleGAN2
// generator, with NVIDIA's semantics (see UpFirDnParams) on NHWC activations. Plus the helpers that build the
// usual filter and the padding rules of 2x up/downsampling.
#include <vector>

#include "fer/kernels/upfirdn2d.hpp"
#include "fer/ops/common.hpp"

namespace fer {

namespace ops_detail {

// The filter as a contiguous constant of x's dtype on x's device (a CPU filter is copied over, once per op). It
// takes no gradient: a learnable filter is not supported.
inline Tensor filter_constant(const char* op, const Tensor& f, DType dtype, Device device = Device::cpu()) {
  FER_CHECK(f.defined(), op, ": the filter is undefined");
  FER_CHECK(f.dim() == 2 && f.size(0) > 0 && f.size(1) > 0, op,
            ": the filter must be a non-empty 2-d [fh, fw] tensor, got ", f.shape().str());
  FER_CHECK(is_floating(f.dtype()), op, ": the filter must be floating point, got ", dtype_name(f.dtype()));
  FER_CHECK(!f.requires_grad(), op, ": the filter is a constant; gradients w.r.t. it are not supported");
  Tensor k = f.detach().to(dtype);
  if (!k.is_contiguous()) k = k.device().is_cpu() ? k.clone() : k.host();
  return k.to(device);
}

// floor(v / 2) also for negative v (a filter narrower than the factor gives negative pads, cropping).
constexpr int64_t floor_half(int64_t v) { return v >= 0 ? v / 2 : -((1 - v) / 2); }

}  // namespace ops_detail

// x [N, H, W, C] (f32/f64; on CUDA also f16/bf16 with f32 arithmetic), filter [fh, fw] (any floating dtype; a constant). Output [N, OH, OW, C] with
// OH = (H*up_y + pad_y0 + pad_y1 - fh) / down_y + 1 and likewise OW; both must be >= 1. Differentiable in x.
inline Tensor upfirdn2d(const Tensor& x_in, const Tensor& filter, const UpFirDnParams& p = {}) {
  const char* op = "upfirdn2d";
  ops_detail::require_rank(op, x_in, 4, "x (NHWC)");
  FER_CHECK(p.up_x >= 1 && p.up_y >= 1 && p.down_x >= 1 && p.down_y >= 1, op,
            ": up/down factors must be >= 1, got up (", p.up_x, ", ", p.up_y, ") down (", p.down_x, ", ", p.down_y,
            ")");
  if (x_in.device().is_cpu()) dispatch_float(x_in.dtype(), op, [](auto) {});
  else FER_CHECK(is_floating(x_in.dtype()), op, ": x must be floating point, got ", dtype_name(x_in.dtype()));
  Tensor f = ops_detail::filter_constant(op, filter, x_in.dtype(), x_in.device());
  const int64_t span_y = x_in.size(1) * p.up_y + p.pad_y0 + p.pad_y1 - f.size(0);
  const int64_t span_x = x_in.size(2) * p.up_x + p.pad_x0 + p.pad_x1 - f.size(1);
  FER_CHECK(span_y >= 0 && span_x >= 0, op, ": empty output for x ", x_in.shape().str(), ", filter ", f.shape().str(),
            ", up (", p.up_x, ", ", p.up_y, "), pads (", p.pad_x0, ", ", p.pad_x1, ", ", p.pad_y0, ", ", p.pad_y1, ")");
  Tensor x = contiguous(x_in);
  Tensor y = Tensor::empty({x.size(0), span_y / p.down_y + 1, span_x / p.down_x + 1, x.size(3)}, x.dtype(), x.device());
  autograd::apply(
      op, {x}, {y}, [=] { kernels::upfirdn2d_forward({kernels::ref(x), kernels::ref(f), kernels::ref(y), p}); },
      [=] {
        if (x.requires_grad())
          kernels::upfirdn2d_backward({kernels::ref(f), kernels::ref(y.grad()), kernels::ref(x.grad_buffer()), p});
      });
  return y;
}

// The 2-d filter outer(taps, taps), normalised to sum 1 when `normalize` (setup_filter({1, 3, 3, 1}) is
// StyleGAN2's [4, 4] resampling filter, sum 1).
inline Tensor setup_filter(const std::vector<double>& taps, bool normalize = true, DType dtype = DType::f32) {
  FER_CHECK(!taps.empty(), "setup_filter: no taps");
  const int64_t n = int64_t(taps.size());
  double total = 0;
  for (double a : taps)
    for (double b : taps) total += a * b;
  FER_CHECK(!normalize || total != 0.0, "setup_filter: taps sum to zero, cannot normalise");
  Tensor f = Tensor::empty({n, n}, DType::f64);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      f.set_flat(i * n + j, taps[size_t(i)] * taps[size_t(j)] / (normalize ? total : 1.0));
  return f.to(dtype);
}

// The upfirdn2d parameters of an up-by-`up` resampling with filter [fh, fw] that maps H to H*up (plus the
// extra `padding` on every side): the filter's footprint is centred as NVIDIA's upsample2d centres it.
inline UpFirDnParams upsample2d_params(int64_t fh, int64_t fw, int64_t up, int64_t padding = 0,
                                       bool flip_filter = false, double gain = 1.0) {
  UpFirDnParams p;
  p.up_x = p.up_y = up;
  p.pad_x0 = padding + ops_detail::floor_half(fw + up - 1);
  p.pad_x1 = padding + ops_detail::floor_half(fw - up);
  p.pad_y0 = padding + ops_detail::floor_half(fh + up - 1);
  p.pad_y1 = padding + ops_detail::floor_half(fh - up);
  p.flip_filter = flip_filter;
  p.gain = gain * double(up * up);
  return p;
}

// Likewise for a down-by-`down` resampling: H -> (H + pads - fh) / down + 1 (floor(H / down) for [1, 3, 3, 1]).
inline UpFirDnParams downsample2d_params(int64_t fh, int64_t fw, int64_t down, int64_t padding = 0,
                                         bool flip_filter = false, double gain = 1.0) {
  UpFirDnParams p;
  p.down_x = p.down_y = down;
  p.pad_x0 = padding + ops_detail::floor_half(fw - down + 1);
  p.pad_x1 = padding + ops_detail::floor_half(fw - down);
  p.pad_y0 = padding + ops_detail::floor_half(fh - down + 1);
  p.pad_y1 = padding + ops_detail::floor_half(fh - down);
  p.flip_filter = flip_filter;
  p.gain = gain;
  return p;
}

// Upsampling by `up` with filter f: output [N, H*up + 2*padding + ..., C]. The effective gain is gain*up*up,
// which keeps a constant image constant for a filter normalised to sum 1 (NVIDIA's upsample2d).
inline Tensor upsample2d(const Tensor& x, const Tensor& f, int64_t up = 2, int64_t padding = 0,
                         bool flip_filter = false, double gain = 1.0) {
  FER_CHECK(up >= 1, "upsample2d: up must be >= 1, got ", up);
  FER_CHECK(f.defined() && f.dim() == 2, "upsample2d: the filter must be 2-d [fh, fw]");
  return upfirdn2d(x, f, upsample2d_params(f.size(0), f.size(1), up, padding, flip_filter, gain));
}

// Downsampling by `down` with filter f (NVIDIA's downsample2d).
inline Tensor downsample2d(const Tensor& x, const Tensor& f, int64_t down = 2, int64_t padding = 0,
                           bool flip_filter = false, double gain = 1.0) {
  FER_CHECK(down >= 1, "downsample2d: down must be >= 1, got ", down);
  FER_CHECK(f.defined() && f.dim() == 2, "downsample2d: the filter must be 2-d [fh, fw]");
  return upfirdn2d(x, f, downsample2d_params(f.size(0), f.size(1), down, padding, flip_filter, gain));
}

}  // namespace fer
