// The dropout contract's CUDA side in a build without CUDA.
#include "fer/kernels/dropout.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void dropout_mask_cuda(const DropoutMaskArgs&) { no_cuda("dropout_mask"); }
void masked_scale_forward_cuda(const MaskedScaleArgs&) { no_cuda("masked_scale_forward"); }
void masked_scale_backward_cuda(const MaskedScaleArgs&) { no_cuda("masked_scale_backward"); }
}  // namespace fer::kernels
