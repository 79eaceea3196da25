// The optim contract's CUDA side in a build without CUDA.
#include "fer/kernels/optim.hpp"
#include "kernels/no_cuda/no_cuda.hpp"

namespace fer::kernels {
void sgd_multi_step_cuda(const SgdStepArgs&) { no_cuda("sgd_multi_step"); }
void adam_multi_step_cuda(const AdamStepArgs&) { no_cuda("adam_multi_step"); }
void sum_of_squares_cuda(const GradListArgs&) { no_cuda("sum_of_squares"); }
void scale_grads_cuda(const GradListArgs&) { no_cuda("scale_grads"); }
void unscale_and_check_cuda(const GradListArgs&) { no_cuda("unscale_and_check"); }
}  // namespace fer::kernels
