// The elementwise contract's CUDA side in a build without CUDA.
#include "fer/kernels/elementwise.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void unary_forward_cuda(const UnaryArgs&) { no_cuda("unary_forward"); }
void unary_backward_cuda(const UnaryArgs&) { no_cuda("unary_backward"); }
void affine_scalar_forward_cuda(const AffineArgs&) { no_cuda("affine_scalar_forward"); }
void axpy_cuda(const AxpyArgs&) { no_cuda("axpy"); }
void binary_forward_cuda(const BinaryArgs&) { no_cuda("binary_forward"); }
void binary_backward_cuda(const BinaryArgs&) { no_cuda("binary_backward"); }
void sum_to_cuda(const SumToArgs&) { no_cuda("sum_to"); }
void broadcast_add_cuda(const BroadcastAddArgs&) { no_cuda("broadcast_add"); }
}  // namespace fer::kernels
