// The upfirdn2d contract's CUDA side in a build without CUDA.
#include "fer/kernels/upfirdn2d.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void upfirdn2d_forward_cuda(const UpFirDnForwardArgs&) { no_cuda("upfirdn2d_forward"); }
void upfirdn2d_backward_cuda(const UpFirDnBackwardArgs&) { no_cuda("upfirdn2d_backward"); }
}  // namespace fer::kernels
