// The pool contract's CUDA side in a build without CUDA.
#include "fer/kernels/pool.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void max_pool2d_forward_cuda(const MaxPool2dArgs&) { no_cuda("max_pool2d_forward"); }
void max_pool2d_backward_cuda(const MaxPool2dBackwardArgs&) { no_cuda("max_pool2d_backward"); }
void avg_pool2d_forward_cuda(const AvgPool2dArgs&) { no_cuda("avg_pool2d_forward"); }
void avg_pool2d_backward_cuda(const AvgPool2dBackwardArgs&) { no_cuda("avg_pool2d_backward"); }
void adaptive_avg_pool2d_forward_cuda(const AdaptiveAvgPool2dArgs&) { no_cuda("adaptive_avg_pool2d_forward"); }
void adaptive_avg_pool2d_backward_cuda(const AdaptiveAvgPool2dBackwardArgs&) {
  no_cuda("adaptive_avg_pool2d_backward");
}
}  // namespace fer::kernels
