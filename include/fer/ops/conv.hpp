#pragma once
// 2-d convolution with autograd. Activations NHWC [N, H, W, C]; weights OHWI [O, kh, kw, C / groups].
#include <array>

#include "fer/kernels/conv.hpp"
#include "fer/ops/cast.hpp"
#include "fer/ops/common.hpp"

namespace fer {

struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};         // (h, w)
  std::array<int64_t, 4> padding{0, 0, 0, 0};  // (top, bottom, left, right), zeros; asymmetric allowed
  std::array<int64_t, 2> dilation{1, 1};       // (h, w)
  int64_t groups = 1;

  // Square stride / dilation and the same padding on every side.
  static Conv2dParams make(int64_t stride, int64_t pad, int64_t dilation = 1, int64_t groups = 1) {
    Conv2dParams p;
    p.stride = {stride, stride};
    p.padding = {pad, pad, pad, pad};
    p.dilation = {dilation, dilation};
    p.groups = groups;
    return p;
  }
};

namespace ops_detail {

// Checks the operands and parameters of conv2d and works out the output size (as PyTorch does).
inline kernels::ConvGeometry conv2d_geometry(const Tensor& x, const Tensor& w, const Tensor& bias,
                                             const Conv2dParams& p) {
  FER_CHECK(x.defined() && w.defined(), "conv2d: input and weight must be defined");
  require_rank("conv2d", x, 4, "input [N, H, W, C]");
  require_rank("conv2d", w, 4, "weight [O, kh, kw, C/groups]");
  require_same_dtype("conv2d", x, w);
  FER_CHECK(p.groups >= 1, "conv2d: groups must be >= 1, got ", p.groups);
  for (int d = 0; d < 2; ++d) {
    FER_CHECK(p.stride[d] >= 1, "conv2d: stride must be >= 1, got ", p.stride[d]);
    FER_CHECK(p.dilation[d] >= 1, "conv2d: dilation must be >= 1, got ", p.dilation[d]);
  }
  for (int64_t pad : p.padding) FER_CHECK(pad >= 0, "conv2d: padding must be >= 0, got ", pad);
  kernels::ConvGeometry g;
  g.n = x.size(0), g.h = x.size(1), g.w = x.size(2), g.c = x.size(3);
  g.o = w.size(0), g.kh = w.size(1), g.kw = w.size(2);
  g.groups = p.groups;
  FER_CHECK(g.c % g.groups == 0, "conv2d: ", g.c, " input channels are not divisible by groups = ", g.groups);
  FER_CHECK(g.o % g.groups == 0, "conv2d: ", g.o, " output channels are not divisible by groups = ", g.groups);
  FER_CHECK(w.size(3) == g.c / g.groups, "conv2d: weight ", w.shape().str(), " expects ", w.size(3) * g.groups,
            " input channels (groups = ", g.groups, ") but the input ", x.shape().str(), " has ", g.c);
  FER_CHECK(g.kh >= 1 && g.kw >= 1 && g.o >= 1, "conv2d: empty weight ", w.shape().str());
  if (bias.defined()) {
    require_same_dtype("conv2d", x, bias);
    FER_CHECK(bias.dim() == 1 && bias.size(0) == g.o, "conv2d: bias must be [", g.o, "], got ", bias.shape().str());
  }
  g.stride_h = p.stride[0], g.stride_w = p.stride[1];
  g.pad_top = p.padding[0], g.pad_left = p.padding[2];
  g.dil_h = p.dilation[0], g.dil_w = p.dilation[1];
  const int64_t span_h = g.h + p.padding[0] + p.padding[1] - g.dil_h * (g.kh - 1) - 1;
  const int64_t span_w = g.w + p.padding[2] + p.padding[3] - g.dil_w * (g.kw - 1) - 1;
  FER_CHECK(span_h >= 0 && span_w >= 0, "conv2d: kernel ", g.kh, "x", g.kw, " (dilation ", g.dil_h, ",", g.dil_w,
            ") does not fit the padded input ", x.shape().str());
  g.ho = span_h / g.stride_h + 1;
  g.wo = span_w / g.stride_w + 1;
  return g;
}

}  // namespace ops_detail

// y[N, Ho, Wo, O] = conv(x, w) + bias with Ho = floor((H + pad_top + pad_bottom - dil*(kh-1) - 1) / stride + 1).
// bias is an undefined Tensor() or [O]. Gradients flow to x, w and bias (each only if it requires grad).
inline Tensor conv2d(const Tensor& x_arg, const Tensor& w_arg, const Tensor& bias_arg, const Conv2dParams& p) {
  // Under autocast (CUDA) the convolution runs in the 16-bit type; the casts carry gradients back to f32.
  const Tensor x_in = ops_detail::autocast_input(x_arg, ops_detail::AutocastPolicy::lower), w_in = ops_detail::autocast_input(w_arg, ops_detail::AutocastPolicy::lower),
               bias_in = ops_detail::autocast_input(bias_arg, ops_detail::AutocastPolicy::lower);
  ops_detail::require_same_device("conv2d", {&x_in, &w_in, &bias_in});
  const kernels::ConvGeometry geom = ops_detail::conv2d_geometry(x_in, w_in, bias_in, p);
  Tensor x = contiguous(x_in), w = contiguous(w_in);
  Tensor bias = bias_in.defined() ? contiguous(bias_in) : Tensor();
  const kernels::ConvPlan plan = kernels::plan_conv2d(geom);
  Tensor y = Tensor::empty({geom.n, geom.ho, geom.wo, geom.o}, x.dtype(), x.device());
  // Scratch memory lives as long as the recorded node, so a replay allocates nothing. The CUDA backend takes its
  // scratch from the device's caching allocator and needs none of these.
  const bool on_cpu = x.device().is_cpu();
  Tensor ws = on_cpu && plan.workspace > 0 ? Tensor::empty({plan.workspace}, x.dtype()) : Tensor();
  Tensor partials = on_cpu && grad_enabled() && w.requires_grad() && plan.weight_grad_workspace > 0
                        ? Tensor::empty({plan.weight_grad_workspace}, x.dtype())
                        : Tensor();
  autograd::apply(
      "conv2d", {x, w, bias}, {y},
      [=] {
        using kernels::ref;
        kernels::conv2d_forward({plan, ref(x), ref(w), ref(bias), ref(y), ref(ws)});
      },
      [=] {
        using kernels::ref;
        Tensor gy = y.grad();
        if (x.requires_grad())
          kernels::conv2d_backward_input({plan, ref(gy), ref(w), ref(x.grad_buffer()), ref(ws), !autograd::overwrites(0)});
        if (w.requires_grad())
          kernels::conv2d_backward_weight({plan, ref(gy), ref(x), ref(w.grad_buffer()), ref(ws), ref(partials)});
        if (bias.defined() && bias.requires_grad())
          kernels::conv2d_backward_bias({plan, ref(gy), ref(bias.grad_buffer())});
      },
      writable_grads({0}));  // x; weight and bias add
  return y;
}

}  // namespace fer
