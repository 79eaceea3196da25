#pragma once
// The depthwise convolution on the CPU (ConvAlgo::depthwise: groups == c, o = c * multiplier), defined by
// kernels/cpu/conv_depthwise.cpp; kernels/cpu/conv.cpp's conv2d_*_cpu hand these plans over. Same arguments and
// contract as those (fer/kernels/conv.hpp); the workspace holds the weight rearranged as [kh, kw, o].
#include "fer/kernels/conv.hpp"

namespace fer::kernels {

void depthwise_forward_cpu(const Conv2dForwardArgs&);
void depthwise_backward_input_cpu(const Conv2dBackwardInputArgs&);
void depthwise_backward_weight_cpu(const Conv2dBackwardWeightArgs&);

}  // namespace fer::kernels
