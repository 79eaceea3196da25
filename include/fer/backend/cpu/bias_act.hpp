#pragma once
// CPU kernels for the fused bias + activation + gain + clamp (kernels/cpu/bias_act.cpp). Inputs contiguous;
// gradients accumulate.
#include "fer/core/tensor.hpp"

namespace fer {

// The activations of NVIDIA's bias_act. Only lrelu uses alpha (elu and selu have their fixed PyTorch alphas);
// softplus is PyTorch's (beta 1, threshold 20); swish is x * sigmoid(x).
enum class Activation { linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus, swish };

const char* activation_name(Activation a);

namespace cpu {

// y = clamp(act(x + b) * gain, -clamp, clamp) with b [C] broadcast along x's last dim (b may be undefined);
// clamp < 0 means none.
void bias_act_forward(const Tensor& x, const Tensor& b, const Tensor& y, Activation act, double alpha, double gain,
                      double clamp);
// gx += dy/dx * gy (zero where clamped); gb[c] += sum of dy/dx * gy over all but the last dim. gx or gb may be
// undefined (skipped). `partials` is scratch [P, C] (P >= 1) for per-chunk bias sums; needed when gb is defined.
void bias_act_backward(const Tensor& x, const Tensor& b, const Tensor& gy, const Tensor& gx, const Tensor& gb,
                       const Tensor& partials, Activation act, double alpha, double gain, double clamp);

}  // namespace cpu
}  // namespace fer
