// The modulated-convolution contract's CUDA side in a build without CUDA.
#include "fer/kernels/modconv.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void modulate_weights_forward_cuda(const ModulateForwardArgs&) { no_cuda("modulate_weights_forward"); }
void modulate_weights_backward_cuda(const ModulateBackwardArgs&) { no_cuda("modulate_weights_backward"); }
size_t sample_conv_workspace_bytes_cuda(const SampleConv&, DType, int) { no_cuda("sample_conv_workspace_bytes"); }
void sample_conv_forward_cuda(const SampleConvForwardArgs&) { no_cuda("sample_conv_forward"); }
void sample_conv_backward_cuda(const SampleConvBackwardArgs&) { no_cuda("sample_conv_backward"); }
}  // namespace fer::kernels
