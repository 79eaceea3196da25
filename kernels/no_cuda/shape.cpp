// The shape contract's CUDA side in a build without CUDA.
#include "fer/kernels/shape.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void gather_strided_cuda(const GatherArgs&) { no_cuda("gather_strided"); }
void scatter_strided_cuda(const ScatterArgs&) { no_cuda("scatter_strided"); }
void pad2d_forward_cuda(const Pad2dArgs&) { no_cuda("pad2d_forward"); }
void pad2d_backward_cuda(const Pad2dArgs&) { no_cuda("pad2d_backward"); }
}  // namespace fer::kernels
