// The bias_act contract's CUDA side in a build without CUDA.
#include "fer/kernels/bias_act.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void bias_act_forward_cuda(const BiasActForwardArgs&) { no_cuda("bias_act_forward"); }
void bias_act_backward_cuda(const BiasActBackwardArgs&) { no_cuda("bias_act_backward"); }
}  // namespace fer::kernels
