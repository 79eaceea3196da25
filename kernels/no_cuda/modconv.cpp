// The weight-modulation contract's CUDA side in a build without CUDA.
#include "fer/kernels/modconv.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void modulate_weights_forward_cuda(const ModulateForwardArgs&) { no_cuda("modulate_weights_forward"); }
void modulate_weights_backward_cuda(const ModulateBackwardArgs&) { no_cuda("modulate_weights_backward"); }
}  // namespace fer::kernels
