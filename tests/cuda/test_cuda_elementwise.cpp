// CUDA pointwise kernels against the CPU backend: every unary op, affine, broadcasting binary ops (with their
// reductions over broadcast dims), sum/mean, non-contiguous inputs; forward, backward onto preexisting gradients,
// f64/f32 and the 16-bit types. Also: every output element written (NaN-poisoned outputs) and deterministic
// reductions (bitwise equal on a rerun).
#include <cstring>
#include <functional>
#include <vector>

#include "cuda/cuda_parity.hpp"

#include "fer/kernels/elementwise.hpp"
#include "fer/ops/elementwise.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_elementwise {

using namespace fer;
using namespace fer::cuda_test;

static Device dev() { return fer::cuda_test::cuda0(); }

TEST_CASE("every unary op: forward and backward match the CPU backend") {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    double lo, hi;
  };
  const std::vector<Case> cases = {
      {"relu", [](const Tensor& x) { return relu(x); }, -4, 4},
      {"relu6", [](const Tensor& x) { return relu6(x); }, -2, 8},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x, 0.1); }, -4, 4},
      {"gelu", [](const Tensor& x) { return gelu(x); }, -4, 4},
      {"silu", [](const Tensor& x) { return silu(x); }, -4, 4},
      {"hardswish", [](const Tensor& x) { return hardswish(x); }, -5, 5},
      {"hardsigmoid", [](const Tensor& x) { return hardsigmoid(x); }, -5, 5},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -4, 4},
      {"tanh", [](const Tensor& x) { return fer::tanh(x); }, -3, 3},
      {"exp", [](const Tensor& x) { return fer::exp(x); }, -2, 2},
      {"log", [](const Tensor& x) { return fer::log(x); }, 0.5, 2},
      {"sqrt", [](const Tensor& x) { return fer::sqrt(x); }, 0.5, 2},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, 0.5, 2},
      {"square", [](const Tensor& x) { return square(x); }, -2, 2},
      {"neg", [](const Tensor& x) { return neg(x); }, -2, 2},
      {"abs", [](const Tensor& x) { return fer::abs(x); }, -2, 2},
  };
  uint64_t seed = 100;
  for (const Case& c : cases)
    for (DType dt : kFloatDtypes)
      check_parity(c.name, [&](const std::vector<Tensor>& t) { return c.op(t[0]); }, {{{3, 37, 5}, c.lo, c.hi}}, dt,
                   seed++);
}

TEST_CASE("affine, scale, add_scalar") {
  for (DType dt : kFloatDtypes) {
    check_parity("affine", [](const std::vector<Tensor>& t) { return affine(t[0], 1.7, -0.3); }, {{{5, 129}}}, dt, 1);
    check_parity("scale", [](const std::vector<Tensor>& t) { return t[0] * 0.25; }, {{{1001}}}, dt, 2);
    check_parity("add_scalar", [](const std::vector<Tensor>& t) { return add_scalar(t[0], 2.5); }, {{{7, 3}}}, dt, 3);
  }
}

TEST_CASE("broadcasting binary ops: forward, and backward reduced over broadcast dims") {
  // Shapes cover: equal shapes, both operands broadcasting, a [C] bias over NHWC (long reduction: block per
  // target), a medium reduction (warp per target), a rank-1 operand of size 1, and operands of different ranks.
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{17, 33}, {17, 33}},      {{3, 1, 5, 7}, {4, 1, 7}}, {{64, 9, 9, 16}, {16}}, {{8, 9, 1, 16}, {9, 5, 16}},
      {{6}, {1}},                {{1}, {4, 1}},             {{2, 3, 9, 5}, {3, 1, 1}},
  };
  using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
  const std::vector<std::pair<const char*, Fn>> ops = {
      {"add", [](const std::vector<Tensor>& t) { return t[0] + t[1]; }},
      {"sub", [](const std::vector<Tensor>& t) { return t[0] - t[1]; }},
      {"mul", [](const std::vector<Tensor>& t) { return t[0] * t[1]; }},
      {"div", [](const std::vector<Tensor>& t) { return t[0] / t[1]; }},
  };
  uint64_t seed = 500;
  for (const auto& [name, fn] : ops)
    for (const auto& [sa, sb] : shapes)
      for (DType dt : kFloatDtypes) {
        // Divisors stay away from zero; the reversed order makes the first operand the broadcast one.
        check_parity(std::string(name) + " " + sa.str() + " " + sb.str(), fn, {{sa, -1, 1}, {sb, 0.5, 2}}, dt, seed++);
        check_parity(std::string(name) + " " + sb.str() + " " + sa.str(), fn, {{sb, 0.5, 2}, {sa, 0.5, 2}}, dt, seed++);
      }
}

TEST_CASE("x * x: both gradients land in one buffer") {
  for (DType dt : kFloatDtypes)
    check_parity("x*x", [](const std::vector<Tensor>& t) { return t[0] * t[0]; }, {{{9, 31}}}, dt, 7);
}

TEST_CASE("sum and mean over dims, keepdim, all") {
  using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
  const std::vector<std::pair<const char*, Fn>> ops = {
      {"sum all", [](const std::vector<Tensor>& t) { return sum(t[0]); }},
      {"sum 1,3", [](const std::vector<Tensor>& t) { return sum(t[0], {1, 3}); }},
      {"sum -1 keepdim", [](const std::vector<Tensor>& t) { return sum(t[0], {-1}, true); }},
      {"mean 0", [](const std::vector<Tensor>& t) { return mean(t[0], {0}); }},
      {"mean 1,2 keepdim", [](const std::vector<Tensor>& t) { return mean(t[0], {1, 2}, true); }},
  };
  uint64_t seed = 900;
  for (const auto& [name, fn] : ops)
    for (DType dt : kFloatDtypes) check_parity(name, fn, {{{5, 7, 3, 11}}}, dt, seed++);
  // A long reduction (a block per target).
  for (DType dt : kFloatDtypes)
    check_parity("mean over 9000", [](const std::vector<Tensor>& t) { return mean(t[0], {0}); }, {{{9000, 3}}}, dt, 77);
}

TEST_CASE("non-contiguous inputs go through the CUDA contiguous() gather") {
  Generator g(11);
  for (DType dt : {DType::f64, DType::f32}) {
    Tensor base = random_cpu({6, 10}, g, -2, 2, dt);
    // A transposed view of rows 1..4: shape [10, 4], strides [1, 10], offset 10.
    Tensor vc = strided_view(base, {10, 4}, {1, 10}, 10);
    Tensor vg = strided_view(base.to(dev()), {10, 4}, {1, 10}, 10);
    REQUIRE_FALSE(vg.is_contiguous());
    vc.set_requires_grad(), vg.set_requires_grad();
    Tensor up = random_cpu({10, 4}, g, -1, 1, dt);
    Tensor yc = silu(vc);
    backward(yc, up);
    Tensor yg = silu(vg);
    backward(yg, up.to(dev()));
    CHECK(rel_l2(yg, yc) <= tolerance_for(dt));
    CHECK(rel_l2(vg.grad(), vc.grad()) <= tolerance_for(dt));
  }
}

TEST_CASE("backend: every output element is written (NaN-poisoned outputs)") {
  Generator g(12);
  Tensor a = random_cpu({4, 1, 9}, g), b = random_cpu({3, 9}, g, 0.5, 2);
  Tensor y = poisoned({4, 3, 9});
  kernels::binary_forward_cuda({kernels::Binary::div, kernels::ref(a.to(dev())), kernels::ref(b.to(dev())), kernels::ref(y)});
  Tensor yc = Tensor::empty({4, 3, 9});
  kernels::binary_forward_cpu({kernels::Binary::div, kernels::ref(a), kernels::ref(b), kernels::ref(yc)});
  CHECK(rel_l2(y, yc) <= kTolF32);

  Tensor x = random_cpu({5, 6, 7}, g);
  Tensor s = poisoned({5, 1, 7});
  kernels::sum_to_cuda({kernels::ref(x.to(dev())), kernels::ref(s)});
  Tensor sc = Tensor::empty({5, 1, 7});
  kernels::sum_to_cpu({kernels::ref(x), kernels::ref(sc)});
  CHECK(rel_l2(s, sc) <= kTolF32);

  Tensor u = poisoned({5, 6, 7});
  kernels::unary_forward_cuda({kernels::Unary::gelu, kernels::ref(x.to(dev())), kernels::ref(u), {}, {}, 0.0});
  Tensor uc = Tensor::empty({5, 6, 7});
  kernels::unary_forward_cpu({kernels::Unary::gelu, kernels::ref(x), kernels::ref(uc), {}, {}, 0.0});
  CHECK(rel_l2(u, uc) <= kTolF32);
}

TEST_CASE("reductions over broadcast dims are deterministic (bitwise equal on a rerun)") {
  Generator g(13);
  Tensor a = random_cpu({64, 9, 9, 16}, g).to(dev()), b = random_cpu({16}, g).to(dev());
  Tensor gy = random_cpu({64, 9, 9, 16}, g).to(dev());
  Tensor gb1 = Tensor::zeros({16}, DType::f32, dev()), gb2 = Tensor::zeros({16}, DType::f32, dev());
  kernels::binary_backward_cuda({kernels::Binary::mul, kernels::ref(a), kernels::ref(b), {}, kernels::ref(gy), {}, kernels::ref(gb1)});
  kernels::binary_backward_cuda({kernels::Binary::mul, kernels::ref(a), kernels::ref(b), {}, kernels::ref(gy), {}, kernels::ref(gb2)});
  Tensor h1 = gb1.host(), h2 = gb2.host();
  CHECK(std::memcmp(h1.raw_data(), h2.raw_data(), h1.nbytes()) == 0);
}

TEST_CASE("mixed devices are a clear error") {
  Tensor a = Tensor::zeros({3}), b = Tensor::zeros({3}, DType::f32, dev());
  CHECK_THROWS_AS(add(a, b), fer::Error);
}

}  // namespace test_cuda_elementwise
