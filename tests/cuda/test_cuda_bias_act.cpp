// CUDA bias_act (fused bias + activation + gain + clamp) against the CPU backend: every activation, with and without
// bias and clamp, forward and backward (input and bias gradients onto preexisting gradients), f64/f32/f16/bf16;
// the bias gradient's column reduction is deterministic (bitwise equal on a rerun) and every output is written.
#include <cstring>
#include <functional>
#include <vector>

#include "cuda/cuda_parity.hpp"

#include "fer/kernels/bias_act.hpp"
#include "fer/ops/bias_act.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_bias_act {

using namespace fer;
using namespace fer::cuda_test;

static Device dev() { return fer::cuda_test::cuda0(); }

TEST_CASE("every activation, with and without bias and clamp, matches the CPU backend") {
  const Activation acts[] = {Activation::linear, Activation::relu,  Activation::lrelu,    Activation::tanh,
                             Activation::sigmoid, Activation::elu, Activation::selu, Activation::softplus,
                             Activation::swish};
  uint64_t seed = 1;
  for (Activation act : acts)
    for (DType dt : kFloatDtypes) {
      const std::string name = activation_name(act);
      // NHWC with an odd channel count (more than one column tile) and enough rows for several chunks.
      check_parity(name + " bias", [act](const std::vector<Tensor>& t) { return bias_act(t[0], t[1], act); },
                   {{{3, 13, 11, 37}, -3, 3}, {{37}, -1, 1}}, dt, seed++);
      check_parity(name + " no bias", [act](const std::vector<Tensor>& t) { return bias_act(t[0], Tensor(), act); },
                   {{{5, 7, 9}, -3, 3}}, dt, seed++);
      check_parity(name + " bias, alpha 0.3, gain 0.7, clamp 0.5",
                   [act](const std::vector<Tensor>& t) { return bias_act(t[0], t[1], act, 0.3, 0.7, 0.5); },
                   {{{41, 6}, -3, 3}, {{6}, -1, 1}}, dt, seed++);
    }
  // softplus' linear branch (v > 20).
  for (DType dt : {DType::f64, DType::f32})
    check_parity("softplus large", [](const std::vector<Tensor>& t) { return bias_act(t[0], t[1], Activation::softplus); },
                 {{{9, 5}, 15, 25}, {{5}, -1, 1}}, dt, seed++);
}

TEST_CASE("a long bias reduction (many chunks, the chunk cap) and a single row") {
  uint64_t seed = 300;
  for (DType dt : kFloatDtypes) {
    check_parity("lrelu 100000 rows",
                 [](const std::vector<Tensor>& t) { return bias_act(t[0], t[1], Activation::lrelu); },
                 {{{100000, 3}, -2, 2}, {{3}, -1, 1}}, dt, seed++);
    check_parity("relu 1 row", [](const std::vector<Tensor>& t) { return bias_act(t[0], t[1], Activation::relu); },
                 {{{1, 70}, -2, 2}, {{70}, -1, 1}}, dt, seed++);
  }
}

TEST_CASE("bias gradient is deterministic and every output is written") {
  Generator g(5);
  Tensor x = random_cpu({257, 45}, g, -2, 2).to(dev()), b = random_cpu({45}, g).to(dev());
  Tensor gy = random_cpu({257, 45}, g).to(dev());
  Tensor partials = Tensor::empty({kernels::kBiasActPartialRows, 45}, DType::f32, dev());
  Tensor gb1 = Tensor::zeros({45}, DType::f32, dev()), gb2 = Tensor::zeros({45}, DType::f32, dev());
  kernels::bias_act_backward_cuda({kernels::ref(x), kernels::ref(b), kernels::ref(gy), {}, kernels::ref(gb1), kernels::ref(partials), Activation::swish, 0.0, 1.0, -1.0});
  kernels::bias_act_backward_cuda({kernels::ref(x), kernels::ref(b), kernels::ref(gy), {}, kernels::ref(gb2), kernels::ref(partials), Activation::swish, 0.0, 1.0, -1.0});
  Tensor h1 = gb1.host(), h2 = gb2.host();
  CHECK(std::memcmp(h1.raw_data(), h2.raw_data(), h1.nbytes()) == 0);

  Tensor y = poisoned({257, 45});
  kernels::bias_act_forward_cuda({kernels::ref(x), kernels::ref(b), kernels::ref(y), Activation::elu, 0.0, 1.3, 0.9});
  Tensor yc = Tensor::empty({257, 45});
  kernels::bias_act_forward_cpu({kernels::ref(x.host()), kernels::ref(b.host()), kernels::ref(yc), Activation::elu, 0.0, 1.3, 0.9});
  CHECK(rel_l2(y, yc) <= kTolF32);
}

TEST_CASE("a bias on another device is a clear error") {
  Tensor x = Tensor::zeros({2, 3}, DType::f32, dev()), b = Tensor::zeros({3});
  CHECK_THROWS_AS(bias_act(x, b, Activation::relu), fer::Error);
}

}  // namespace test_cuda_bias_act
