#pragma once
// CUDA 2-d convolution (kernels/gpu/conv.cpp): the same functions and semantics as fer/backend/cpu/conv.hpp for
// device tensors (f32, f64, and f16/bf16 with f32 accumulation); gradients accumulate (+=). cuDNN runs the general
// case; a hand-written kernel runs depthwise convolutions (see conv2d_uses_depthwise_kernel). The CPU workspaces
// of the plan are not used: scratch memory comes from the device's caching allocator.
#include "fer/backend/cpu/conv.hpp"

namespace fer::gpu {

// The hand-written depthwise kernel runs groups == c == o (> 1) with kernels up to 7x7, where cuDNN's NHWC depthwise
// kernels are slow; a channel multiplier or a larger kernel goes to cuDNN.
bool conv2d_uses_depthwise_kernel(const cpu::ConvGeometry& g);

void conv2d_forward(const cpu::ConvPlan& plan, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y,
                    const Tensor& workspace);
void conv2d_backward_input(const cpu::ConvPlan& plan, const Tensor& gy, const Tensor& w, const Tensor& gx,
                           const Tensor& workspace);
void conv2d_backward_weight(const cpu::ConvPlan& plan, const Tensor& gy, const Tensor& x, const Tensor& gw,
                            const Tensor& workspace, const Tensor& partials);
void conv2d_backward_bias(const cpu::ConvPlan& plan, const Tensor& gy, const Tensor& gb);

}  // namespace fer::gpu
