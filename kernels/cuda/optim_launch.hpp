#pragma once
// Launchers of the multi-tensor optimizer kernels (kernels/cuda/optim.cu). One launch updates many tensors: `table`
// is a device array of `count` TensorRecord (built and uploaded by the glue), `max_n` the largest element count.
#include <cstdint>

#include "fer/core/dtype.hpp"

namespace fer::cuda {

// One tensor of a multi-tensor launch: device addresses (0 = absent) and its element count.
struct TensorRecord {
  uint64_t p = 0;   // parameter (or the gradient, for the gradient-only kernels)
  uint64_t g = 0;   // gradient
  uint64_t s0 = 0;  // SGD: momentum buffer; Adam: exp_avg
  uint64_t s1 = 0;  // Adam: exp_avg_sq
  uint64_t s2 = 0;  // Adam: max_exp_avg_sq (amsgrad)
  int64_t n = 0;
};

// The scalars of torch.optim.SGD's update, converted to the parameter type in the kernel.
struct SgdScalars {
  double lr, weight_decay, momentum, keep;  // keep = 1 - dampening
  bool nesterov, maximize, first;           // first: the momentum buffers start as d
};
void sgd_multi_launch(const TensorRecord* table, int64_t count, int64_t max_n, const SgdScalars& s, DType dtype,
                      int device);

// The scalars of Adam/AdamW's update (see fer/optim/adam.hpp), each already computed in double as on the CPU.
struct AdamScalars {
  double beta1, beta2, one_minus_beta1, one_minus_beta2, eps, neg_step, bias_correction2_sqrt, l2, shrink;
  bool decoupled, maximize;  // amsgrad: the records carry s2
};
void adam_multi_launch(const TensorRecord* table, int64_t count, int64_t max_n, const AdamScalars& s, DType dtype,
                       int device);

// Gradient-only kernels (record.p = the gradient). Sum of squares in double: pass 1 writes
// count * kNormBlocksPerTensor partials, pass 2 reduces them in a fixed order into *result (all device memory).
constexpr int64_t kNormBlocksPerTensor = 32;
void sum_squares_launch(const TensorRecord* table, int64_t count, int64_t max_n, double* partials, double* result,
                        DType dtype, int device);
// d = T(double(d) * coef).
void scale_launch(const TensorRecord* table, int64_t count, int64_t max_n, double coef, DType dtype, int device);
// d *= T(inv); *nonfinite (device int, zeroed by the caller) becomes 1 when a result is Inf or NaN.
void unscale_launch(const TensorRecord* table, int64_t count, int64_t max_n, double inv, int* nonfinite, DType dtype,
                    int device);

}  // namespace fer::cuda
