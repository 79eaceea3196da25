// The conv contract's CUDA side in a build without CUDA.
#include "fer/kernels/conv.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void conv2d_forward_cuda(const Conv2dForwardArgs&) { no_cuda("conv2d_forward"); }
void conv2d_backward_input_cuda(const Conv2dBackwardInputArgs&) { no_cuda("conv2d_backward_input"); }
void conv2d_backward_weight_cuda(const Conv2dBackwardWeightArgs&) { no_cuda("conv2d_backward_weight"); }
void conv2d_backward_bias_cuda(const Conv2dBackwardBiasArgs&) { no_cuda("conv2d_backward_bias"); }
}  // namespace fer::kernels
