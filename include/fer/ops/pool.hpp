#pragma once
// 2-d pooling on NHWC tensors with autograd, with PyTorch's output sizes, padding and ceil_mode rules.
#include <array>
#include <cstdint>
#include <utility>

#include "fer/kernels/pool.hpp"
#include "fer/ops/common.hpp"

namespace fer {

struct Pool2dParams {
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};  // (h, w)
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg pool only
  // Square window; stride 0 means "= kernel" (PyTorch's default stride=None).
  static Pool2dParams make(int64_t kernel, int64_t stride = 0, int64_t padding = 0) {
    Pool2dParams p;
    p.kernel = {kernel, kernel};
    p.stride = {stride ? stride : kernel, stride ? stride : kernel};
    p.padding = {padding, padding};
    return p;
  }
};

namespace ops_detail {

// PyTorch's pooling_output_shape: floor((in + 2 pad - dil (k - 1) - 1 [+ stride - 1 with ceil_mode]) / stride) + 1,
// rounding toward -infinity; with ceil_mode a last window that would start in the right padding is dropped. So a
// ceil_mode window may overhang the padded input by up to stride - 1 (PyTorch accepts a 5x5 window on a 4x4 input
// with stride 2 and ceil_mode). A result below 1 means the window does not fit.
inline int64_t pool_output_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceil_mode) {
  int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

inline kernels::PoolGeometry pool_geometry(const char* op, const Tensor& x, const Pool2dParams& p) {
  FER_CHECK(x.defined(), op, ": undefined input");
  require_rank(op, x, 4, "input [N, H, W, C]");
  kernels::PoolGeometry g{};
  g.n = x.size(0), g.h = x.size(1), g.w = x.size(2), g.c = x.size(3);
  g.kh = p.kernel[0], g.kw = p.kernel[1], g.sh = p.stride[0], g.sw = p.stride[1];
  g.ph = p.padding[0], g.pw = p.padding[1], g.dh = p.dilation[0], g.dw = p.dilation[1];
  g.count_include_pad = p.count_include_pad;
  FER_CHECK(g.kh >= 1 && g.kw >= 1 && g.sh >= 1 && g.sw >= 1 && g.dh >= 1 && g.dw >= 1, op,
            ": kernel, stride and dilation must be >= 1");
  FER_CHECK(g.ph >= 0 && g.pw >= 0 && 2 * g.ph <= g.kh && 2 * g.pw <= g.kw, op,
            ": padding must be >= 0 and at most half the kernel (PyTorch's rule), got padding ", g.ph, ",", g.pw,
            " for kernel ", g.kh, "x", g.kw);
  g.ho = pool_output_size(g.h, g.kh, g.ph, g.sh, g.dh, p.ceil_mode);
  g.wo = pool_output_size(g.w, g.kw, g.pw, g.sw, g.dw, p.ceil_mode);
  FER_CHECK(g.ho >= 1 && g.wo >= 1, op, ": window ", g.kh, "x", g.kw, " (dilation ", g.dh, "x", g.dw,
            ") does not fit the padded input ", x.shape().str(), ": output size ", g.ho, "x", g.wo, " is too small");
  return g;
}

}  // namespace ops_detail

// Max pooling (padding acts as -inf). Also returns the argmax as PyTorch's return_indices does: an i32 tensor
// [N, OH, OW, C] of input spatial indices ih * W + iw (not differentiable; rewritten on every replay).
inline std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x_in, const Pool2dParams& p) {
  const kernels::PoolGeometry g = ops_detail::pool_geometry("max_pool2d", x_in, p);
  FER_CHECK(g.h * g.w <= INT32_MAX, "max_pool2d: input plane ", g.h, "x", g.w, " is too large for i32 indices");
  Tensor x = contiguous(x_in);
  Tensor y = Tensor::empty({g.n, g.ho, g.wo, g.c}, x.dtype(), x.device());
  Tensor argmax = Tensor::empty({g.n, g.ho, g.wo, g.c}, DType::i32, x.device());
  autograd::apply(
      "max_pool2d", {x}, {y},
      [=] {
        using kernels::ref;
        kernels::max_pool2d_forward({g, ref(x), ref(y), ref(argmax)});
      },
      [=] {
        using kernels::ref;
        if (x.requires_grad())
          kernels::max_pool2d_backward({g, ref(y.grad()), ref(argmax), ref(x.grad_buffer()), !autograd::overwrites(0)});
      },
      writable_grads({0}));
  return {y, argmax};
}

inline Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) { return max_pool2d_with_indices(x, p).first; }

// Average pooling over the window clipped to the input; the divisor follows PyTorch: with count_include_pad the
// window clipped to the padded extent (a ceil_mode window can reach past it), without it the input pixels covered.
inline Tensor avg_pool2d(const Tensor& x_in, const Pool2dParams& p) {
  FER_CHECK(p.dilation[0] == 1 && p.dilation[1] == 1, "avg_pool2d: dilation is not supported (as in PyTorch)");
  const kernels::PoolGeometry g = ops_detail::pool_geometry("avg_pool2d", x_in, p);
  Tensor x = contiguous(x_in);
  Tensor y = Tensor::empty({g.n, g.ho, g.wo, g.c}, x.dtype(), x.device());
  autograd::apply(
      "avg_pool2d", {x}, {y}, [=] { kernels::avg_pool2d_forward({g, kernels::ref(x), kernels::ref(y)}); },
      [=] {
        if (x.requires_grad())
          kernels::avg_pool2d_backward(
              {g, kernels::ref(y.grad()), kernels::ref(x.grad_buffer()), !autograd::overwrites(0)});
      },
      writable_grads({0}));
  return y;
}

// Adaptive average pooling to out_h x out_w with PyTorch's windows: row i covers [floor(i * H / out_h),
// ceil((i + 1) * H / out_h)), likewise for columns; out may exceed H or W (windows then overlap).
inline Tensor adaptive_avg_pool2d(const Tensor& x_in, int64_t out_h, int64_t out_w) {
  FER_CHECK(x_in.defined(), "adaptive_avg_pool2d: undefined input");
  ops_detail::require_rank("adaptive_avg_pool2d", x_in, 4, "input [N, H, W, C]");
  FER_CHECK(out_h >= 1 && out_w >= 1, "adaptive_avg_pool2d: output size must be positive, got ", out_h, "x", out_w);
  FER_CHECK(x_in.size(1) >= 1 && x_in.size(2) >= 1, "adaptive_avg_pool2d: empty input ", x_in.shape().str());
  Tensor x = contiguous(x_in);
  Tensor y = Tensor::empty({x.size(0), out_h, out_w, x.size(3)}, x.dtype(), x.device());
  autograd::apply(
      "adaptive_avg_pool2d", {x}, {y},
      [=] { kernels::adaptive_avg_pool2d_forward({kernels::ref(x), kernels::ref(y)}); },
      [=] {
        if (x.requires_grad())
          kernels::adaptive_avg_pool2d_backward(
              {kernels::ref(y.grad()), kernels::ref(x.grad_buffer()), !autograd::overwrites(0)});
      },
      writable_grads({0}));
  return y;
}

}  // namespace fer
