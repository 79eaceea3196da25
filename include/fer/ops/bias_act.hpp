#pragma once
// bias_act: the fused "add bias, activate, scale by gain, clamp" of the StyleGAN2 generator (NVIDIA's bias_act
// with the bias along the channel dim, which is the last dim in fer's NHWC / [N, C] layouts).
#include <cmath>
#include <optional>
#include <vector>

#include "fer/core/parallel.hpp"
#include "fer/kernels/bias_act.hpp"
#include "fer/ops/common.hpp"

namespace fer {

// NVIDIA's defaults: alpha 0.2 for lrelu (0 otherwise), gain sqrt(2) for relu/lrelu (1 otherwise).
constexpr double default_activation_alpha(Activation act) { return act == Activation::lrelu ? 0.2 : 0.0; }
constexpr double default_activation_gain(Activation act) {
  return act == Activation::relu || act == Activation::lrelu ? 1.4142135623730950488 : 1.0;
}

// y = clamp(act(x + bias) * gain, -clamp, clamp) in one pass.
//   x     [..., C] (f32/f64; also f16/bf16 on CUDA; NHWC activations or [N, C] features);
//   bias  [C] of x's dtype, or an undefined Tensor for none;
//   alpha the lrelu slope (ignored by the other activations), gain, both defaulting per activation as above;
//   clamp < 0: no clamp. As PyTorch's clamp, the gradient is zero where the value was clamped.
// Differentiable in x and bias.
inline Tensor bias_act(const Tensor& x_in, const Tensor& bias_in = Tensor(), Activation act = Activation::linear,
                       std::optional<double> alpha = std::nullopt, std::optional<double> gain = std::nullopt,
                       double clamp = -1.0) {
  const char* op = "bias_act";
  FER_CHECK(x_in.defined() && x_in.dim() >= 1, op, ": x must have at least one dim (channels last)");
  ops_detail::require_same_device(op, {&x_in, &bias_in});
  const bool on_cuda = x_in.device().is_cuda();
  if (on_cuda) FER_CHECK(is_floating(x_in.dtype()), op, ": dtype ", dtype_name(x_in.dtype()), " is not supported");
  else dispatch_float(x_in.dtype(), op, [](auto) {});
  FER_CHECK(std::isfinite(clamp), op, ": clamp must be finite (negative for none)");
  if (bias_in.defined()) {
    ops_detail::require_same_dtype(op, x_in, bias_in);
    FER_CHECK(bias_in.dim() == 1 && bias_in.size(0) == x_in.size(-1), op, ": bias must be [C] = [", x_in.size(-1),
              "] for x ", x_in.shape().str(), ", got ", bias_in.shape().str());
  }
  const double a = alpha.value_or(default_activation_alpha(act));
  const double g = gain.value_or(default_activation_gain(act));
  Tensor x = contiguous(x_in);
  Tensor b = bias_in.defined() ? contiguous(bias_in) : Tensor();
  Tensor y = Tensor::empty_like(x);
  // Partial bias gradients (per thread on the CPU, per fixed row chunk on CUDA), allocated up front so backward
  // allocates nothing.
  Tensor partials;
  if (b.defined() && b.requires_grad()) {
    if (on_cuda)
      partials = Tensor::empty({kernels::kBiasActPartialRows, b.size(0)}, kernels::bias_act_partials_dtype(x.dtype()),
                               x.device());
    else partials = Tensor::empty({num_threads(), b.size(0)}, x.dtype());
  }
  autograd::apply(
      op, b.defined() ? std::vector<Tensor>{x, b} : std::vector<Tensor>{x}, {y},
      [=] { kernels::bias_act_forward({kernels::ref(x), kernels::ref(b), kernels::ref(y), act, a, g, clamp}); },
      [=] {
        bool gx = x.requires_grad(), gb = b.defined() && b.requires_grad();
        if (gx || gb)
          kernels::bias_act_backward({kernels::ref(x), kernels::ref(b), kernels::ref(y.grad()),
                                      kernels::ref(gx ? x.grad_buffer() : Tensor()),
                                      kernels::ref(gb ? b.grad_buffer() : Tensor()), kernels::ref(partials), act, a, g,
                                      clamp});
      });
  return y;
}

}  // namespace fer
