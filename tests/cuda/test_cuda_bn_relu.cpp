// CUDA batch_norm_relu (fused BN + ReLU) against the CPU backend: output and the gradients of input, weight and bias,
// in training (batch statistics) and eval (running statistics), f64 and f32, onto preexisting gradients. (16-bit
// dtypes are left out: rounding can flip the sign of outputs near 0 against the f32 reference, which moves the mask.)
#include <vector>

#include "cuda/cuda_parity.hpp"

#include "fer/autograd/tape.hpp"
#include "fer/ops/norm.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_bn_relu {

using namespace fer;
using namespace fer::cuda_test;

TEST_CASE("batch_norm_relu training and eval: output and gradients match the CPU") {
  uint64_t seed = 500;
  for (DType dt : {DType::f64, DType::f32}) {
    check_parity("batch_norm_relu training",
                 [](const std::vector<Tensor>& t) {
                   return batch_norm_relu(t[0], t[1], t[2], Tensor(), Tensor(), true);
                 },
                 {{{4, 5, 7, 19}, -2, 2}, {{19}, 0.5, 1.5}, {{19}, -0.5, 0.5}}, dt, seed++);
    check_parity("batch_norm_relu eval",
                 [](const std::vector<Tensor>& t) {
                   Tensor rm = Tensor::full({19}, 0.25, t[0].dtype()).to(t[0].device());
                   Tensor rv = Tensor::full({19}, 1.5, t[0].dtype()).to(t[0].device());
                   return batch_norm_relu(t[0], t[1], t[2], rm, rv, false);
                 },
                 {{{3, 6, 5, 19}, -2, 2}, {{19}, 0.5, 1.5}, {{19}, -0.5, 0.5}}, dt, seed++);
    // Many reduction chunks (rows well above the chunk size).
    check_parity("batch_norm_relu training, 60000 rows",
                 [](const std::vector<Tensor>& t) {
                   return batch_norm_relu(t[0], Tensor(), Tensor(), Tensor(), Tensor(), true);
                 },
                 {{{60000, 7}, -2, 2}}, dt, seed++);
  }
}

}  // namespace test_cuda_bn_relu
