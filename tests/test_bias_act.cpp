// bias_act: every activation against torch references (tests/data/sg2ops/bias_act.json from
// tools/make_sg2_op_fixtures.py), closed-form values, gradient checks (with clamping) and argument errors.
#include <doctest/doctest.h>

#include <cmath>

#include "fer/ops/bias_act.hpp"
#include "gradcheck.hpp"
#include "sg2_fixture.hpp"

using namespace fer;
using fer::testing::fixture_cotangent;
using fer::testing::fixture_tensor;
using fer::testing::gradcheck;
using fer::testing::rand_input;
using fer::testing::rand_input_avoiding;
using fer::testing::rel_error;

namespace {

Activation activation_from_name(const std::string& s) {
  for (int a = 0; a <= int(Activation::swish); ++a)
    if (s == activation_name(Activation(a))) return Activation(a);
  FAIL("unknown activation " << s);
  return Activation::linear;
}

}  // namespace

TEST_CASE("bias_act: closed-form values, NVIDIA defaults") {
  Tensor x = Tensor::from_vector<float>({-2.f, -0.5f, 0.5f, 3.f}, {2, 2});
  Tensor b = Tensor::from_vector<float>({0.25f, -1.f}, {2});
  // x + b = [-1.75, -1.5, 0.75, 2]; lrelu(0.2) * sqrt(2).
  const double s2 = std::sqrt(2.0);
  std::vector<double> want = {-0.35 * s2, -0.3 * s2, 0.75 * s2, 2 * s2};
  Tensor y = bias_act(x, b, Activation::lrelu);
  for (int i = 0; i < 4; ++i) CHECK(y.flat(i) == doctest::Approx(want[size_t(i)]).epsilon(1e-6));
  // The StyleGAN2 synthesis layer: clamp 256 * gain... here clamp 1: [-0.495, -0.424, 1, 1].
  Tensor yc = bias_act(x, b, Activation::lrelu, std::nullopt, std::nullopt, 1.0);
  CHECK(yc.flat(2) == doctest::Approx(1.0));
  CHECK(yc.flat(3) == doctest::Approx(1.0));
  CHECK(yc.flat(0) == doctest::Approx(-0.35 * s2).epsilon(1e-6));
  // No bias, linear, default gain 1: identity.
  CHECK(bias_act(x).to_vector() == x.to_vector());
  CHECK(default_activation_gain(Activation::relu) == doctest::Approx(s2));
  CHECK(default_activation_gain(Activation::tanh) == 1.0);
  CHECK(default_activation_alpha(Activation::lrelu) == 0.2);
}

TEST_CASE("bias_act matches the torch reference for every activation (f32 and f64, values and gradients)") {
  auto cases = fer::testing::load_sg2_fixture("bias_act.json");
  REQUIRE(cases.size() >= 13);
  for (const auto& c : cases) {
    CAPTURE(c.at("name").get<std::string>());
    Activation act = activation_from_name(c["act"]);
    std::optional<double> alpha, gain;
    if (c.contains("alpha")) alpha = c["alpha"].get<double>();
    if (c.contains("gain")) gain = c["gain"].get<double>();
    double clamp = c.contains("clamp") ? c["clamp"].get<double>() : -1.0;
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dt));
      const double tol = dt == DType::f32 ? 1e-5 : 1e-9;
      Tensor x = fixture_tensor(c["x"], dt).set_requires_grad(true);
      Tensor b = c.contains("bias") ? fixture_tensor(c["bias"], dt).set_requires_grad(true) : Tensor();
      Tensor y = bias_act(x, b, act, alpha, gain, clamp);
      CHECK(rel_error(y, fixture_tensor(c["y"], dt)) < tol);
      backward(y, fixture_cotangent(y.shape(), dt));
      CHECK(rel_error(x.grad(), fixture_tensor(c["grad_x"], dt)) < tol);
      if (b.defined()) CHECK(rel_error(b.grad(), fixture_tensor(c["grad_bias"], dt)) < tol);
    }
  }
}

TEST_CASE("gradcheck: bias_act, every activation, with and without bias and clamp (f64)") {
  Generator gen(5);
  for (int a = 0; a <= int(Activation::swish); ++a) {
    Activation act = Activation(a);
    CAPTURE(activation_name(act));
    // Kinks of relu/lrelu/elu/selu at 0 (x + b); the bias is fixed at a known value to keep x + b off them.
    Tensor x = rand_input_avoiding({2, 3, 2, 5}, gen, {-0.5, 0.0}, -3, 3, 2e-3);
    Tensor b = Tensor::full({5}, 0.5, DType::f64).set_requires_grad(true);
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return bias_act(in[0], in[1], act, 0.3, 1.7); }, {x, b}) <=
          1.0);
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return bias_act(in[0], Tensor(), act); }, {x}) <= 1.0);
  }
  // Clamped lrelu (as in the synthesis layers): values beyond the clamp get zero gradient. Keep act(x+b)*gain
  // away from +-clamp so the finite difference does not straddle it.
  Tensor x = Tensor::rand({3, 7}, DType::f64, gen, -2, 2);
  Tensor b = Tensor::rand({7}, DType::f64, gen, -0.5, 0.5);
  const double clamp = 0.8, g = std::sqrt(2.0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    double v = x.flat(i) + b.flat(i % 7);
    double out = (v > 0 ? v : 0.2 * v) * g;
    if (std::abs(std::abs(out) - clamp) < 1e-2) x.set_flat(i, x.flat(i) + 0.05);
    if (std::abs(v) < 1e-3) x.set_flat(i, x.flat(i) + 0.01);
  }
  x.set_requires_grad(true);
  b.set_requires_grad(true);
  auto f = [&](const std::vector<Tensor>& in) {
    return bias_act(in[0], in[1], Activation::lrelu, std::nullopt, std::nullopt, clamp);
  };
  CHECK(gradcheck(f, {x, b}) <= 1.0);
  Tensor y = f({x, b});
  int clamped = 0;
  for (int64_t i = 0; i < y.numel(); ++i) clamped += std::abs(y.flat(i)) == clamp;
  CHECK(clamped > 0);  // the check above did exercise the clamp
}

TEST_CASE("bias_act: larger input (parallel chunks) matches a per-element reference, bias grad sums rows") {
  Generator gen(9);
  Tensor x = Tensor::rand({4, 33, 31, 16}, DType::f64, gen, -2, 2).set_requires_grad(true);
  Tensor b = Tensor::rand({16}, DType::f64, gen, -1, 1).set_requires_grad(true);
  Tensor y = bias_act(x, b, Activation::swish, std::nullopt, 2.0, 1.5);
  backward(y, Tensor::ones(y.shape(), DType::f64));
  std::vector<double> gb(16, 0.0);
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    double v = x.flat(i) + b.flat(i % 16), s = 1 / (1 + std::exp(-v));
    double out = v * s * 2.0;
    double want = std::min(std::max(out, -1.5), 1.5);
    worst = std::max(worst, std::abs(y.flat(i) - want));
    double g = std::abs(out) <= 1.5 ? 2.0 * s * (1 + v * (1 - s)) : 0.0;
    worst = std::max(worst, std::abs(x.grad().flat(i) - g));
    gb[size_t(i % 16)] += g;
  }
  CHECK(worst < 1e-12);
  for (int64_t c = 0; c < 16; ++c) CHECK(b.grad().flat(c) == doctest::Approx(gb[size_t(c)]).epsilon(1e-10));
}

TEST_CASE("bias_act rejects bad arguments") {
  Tensor x = Tensor::zeros({2, 3, 3, 4});
  CHECK_THROWS_AS(bias_act(x, Tensor::zeros({3})), Error);              // bias is not [C]
  CHECK_THROWS_AS(bias_act(x, Tensor::zeros({1, 4})), Error);           // bias is not 1-d
  CHECK_THROWS_AS(bias_act(x, Tensor::zeros({4}, DType::f64)), Error);  // dtype mismatch
  CHECK_THROWS_AS(bias_act(Tensor::zeros({2, 4}, DType::i64)), Error);  // integer input
  CHECK_THROWS_AS(bias_act(x, Tensor(), Activation::relu, std::nullopt, std::nullopt, INFINITY), Error);
  CHECK_THROWS_AS(bias_act(Tensor()), Error);
}
