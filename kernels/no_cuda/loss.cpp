// The softmax and cross-entropy contract's CUDA side in a build without CUDA.
#include "fer/kernels/loss.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void softmax_forward_cuda(const SoftmaxForwardArgs&) { no_cuda("softmax_forward"); }
void softmax_backward_cuda(const SoftmaxBackwardArgs&) { no_cuda("softmax_backward"); }
double cross_entropy_forward_cuda(const CrossEntropyForwardArgs&) { no_cuda("cross_entropy_forward"); }
void cross_entropy_backward_cuda(const CrossEntropyBackwardArgs&) { no_cuda("cross_entropy_backward"); }
void cross_entropy_reduce_cuda(const CrossEntropyReduceArgs&) { no_cuda("cross_entropy_reduce"); }
void cross_entropy_backward_scalar_cuda(const CrossEntropyBackwardScalarArgs&) {
  no_cuda("cross_entropy_backward_scalar");
}
}  // namespace fer::kernels
