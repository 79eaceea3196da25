// The normalization contract's CUDA side in a build without CUDA.
#include "fer/kernels/norm.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void batch_norm_stats_cuda(const BatchNormStatsArgs&) { no_cuda("batch_norm_stats"); }
void batch_norm_apply_cuda(const BatchNormApplyArgs&) { no_cuda("batch_norm_apply"); }
void batch_norm_backward_cuda(const BatchNormBackwardArgs&) { no_cuda("batch_norm_backward"); }
void batch_norm_add_relu_apply_cuda(const BatchNormAddReluApplyArgs&) { no_cuda("batch_norm_add_relu_apply"); }
void batch_norm_add_relu_backward_cuda(const BatchNormAddReluBackwardArgs&) { no_cuda("batch_norm_add_relu_backward"); }
void inverse_std_cuda(const InverseStdArgs&) { no_cuda("inverse_std"); }
void running_update_cuda(const RunningUpdateArgs&) { no_cuda("running_update"); }
void layer_norm_forward_cuda(const LayerNormForwardArgs&) { no_cuda("layer_norm_forward"); }
void layer_norm_backward_cuda(const LayerNormBackwardArgs&) { no_cuda("layer_norm_backward"); }
void increment_i64_cuda(const IncrementArgs&) { no_cuda("increment_i64"); }
}  // namespace fer::kernels
