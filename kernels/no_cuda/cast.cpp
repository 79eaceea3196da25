// The cast contract's CUDA side in a build without CUDA.
#include "fer/kernels/cast.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void cast_forward_cuda(const CastArgs&) { no_cuda("cast_forward"); }
void cast_backward_cuda(const CastArgs&) { no_cuda("cast_backward"); }
}  // namespace fer::kernels
