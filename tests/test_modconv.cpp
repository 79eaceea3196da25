// Modulated convolution: modulate_weights and modulated_conv2d against torch references
// (tests/data/sg2ops/modconv.json from tools/make_sg2_op_fixtures.py: NVIDIA's grouped form, the up-2 path
// as conv_transpose2d + filter), an independent formulation, gradient checks, noise, argument errors.
#include <doctest/doctest.h>

#include <cmath>

#include "fer/ops/modconv.hpp"
#include "gradcheck.hpp"
#include "sg2_fixture.hpp"

using namespace fer;
using fer::testing::fixture_cotangent;
using fer::testing::fixture_tensor;
using fer::testing::gradcheck;
using fer::testing::rand_input;
using fer::testing::rel_error;

TEST_CASE("modulate_weights: closed-form values") {
  // One output channel, 1x1 kernel, two inputs: w = [3, 4], s = [1, 2] -> W' = [3, 8], |W'| = sqrt(73).
  Tensor w = Tensor::from_vector<double>({3, 4}, {1, 1, 1, 2});
  Tensor s = Tensor::from_vector<double>({1, 2, 0.5, 0}, {2, 2});
  Tensor y = modulate_weights(w, s, false);
  REQUIRE(y.shape() == Shape{2, 1, 1, 1, 2});
  CHECK(y.to_vector() == std::vector<double>{3, 8, 1.5, 0});
  Tensor d = modulate_weights(w, s, true);
  CHECK(d.flat(0) == doctest::Approx(3 / std::sqrt(73.0 + 1e-8)).epsilon(1e-12));
  CHECK(d.flat(1) == doctest::Approx(8 / std::sqrt(73.0 + 1e-8)).epsilon(1e-12));
  CHECK(d.flat(2) == doctest::Approx(1.5 / std::sqrt(2.25 + 1e-8)).epsilon(1e-14));
}

TEST_CASE("modulate_weights matches the torch reference (f32 and f64, values and gradients)") {
  auto cases = fer::testing::load_sg2_fixture("modconv.json").at("modulate_weights");
  REQUIRE(cases.size() >= 3);
  for (const auto& c : cases) {
    CAPTURE(c.at("name").get<std::string>());
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dt));
      const double tol = dt == DType::f32 ? 1e-5 : 1e-9;
      Tensor w = fixture_tensor(c["w"], dt).set_requires_grad(true);
      Tensor s = fixture_tensor(c["styles"], dt).set_requires_grad(true);
      Tensor y = modulate_weights(w, s, c["demodulate"].get<bool>());
      CHECK(rel_error(y, fixture_tensor(c["y"], dt)) < tol);
      backward(y, fixture_cotangent(y.shape(), dt));
      CHECK(rel_error(w.grad(), fixture_tensor(c["grad_w"], dt)) < tol);
      CHECK(rel_error(s.grad(), fixture_tensor(c["grad_styles"], dt)) < tol);
    }
  }
}

TEST_CASE("modulated_conv2d matches the torch reference (up 1/2, flips, 1x1, noise; f32 and f64)") {
  auto cases = fer::testing::load_sg2_fixture("modconv.json").at("modulated_conv2d");
  REQUIRE(cases.size() >= 9);
  for (const auto& c : cases) {
    CAPTURE(c.at("name").get<std::string>());
    ModConvParams p;
    p.demodulate = c["demodulate"];
    p.padding = c["padding"];
    p.up = c["up"];
    p.flip_weight = c["flip_weight"].get<bool>();
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dt));
      const double tol = dt == DType::f32 ? 1e-5 : 1e-9;
      Tensor x = fixture_tensor(c["x"], dt).set_requires_grad(true);
      Tensor w = fixture_tensor(c["w"], dt).set_requires_grad(true);
      Tensor s = fixture_tensor(c["styles"], dt).set_requires_grad(true);
      Tensor noise = c.contains("noise") ? fixture_tensor(c["noise"], dt) : Tensor();
      Tensor y = modulated_conv2d(x, w, s, p, noise);
      CHECK(rel_error(y, fixture_tensor(c["y"], dt)) < tol);
      backward(y, fixture_cotangent(y.shape(), dt));
      CHECK(rel_error(x.grad(), fixture_tensor(c["grad_x"], dt)) < tol);
      CHECK(rel_error(w.grad(), fixture_tensor(c["grad_w"], dt)) < tol);
      CHECK(rel_error(s.grad(), fixture_tensor(c["grad_styles"], dt)) < tol);
    }
  }
}

TEST_CASE("modulated_conv2d: the generator's defaults give 2x outputs; flip_weight defaults to (up == 1)") {
  Generator gen(3);
  Tensor x = Tensor::randn({2, 5, 4, 3}, DType::f64, gen);
  Tensor w = Tensor::randn({4, 3, 3, 3}, DType::f64, gen);
  Tensor s = Tensor::rand({2, 3}, DType::f64, gen, 0.5, 1.5);
  ModConvParams p;
  p.padding = 1;
  p.up = 2;
  Tensor y = modulated_conv2d(x, w, s, p);
  CHECK(y.shape() == Shape{2, 10, 8, 4});
  p.flip_weight = false;
  CHECK(rel_error(modulated_conv2d(x, w, s, p), y) == 0.0);
  p.flip_weight = true;
  CHECK(rel_error(modulated_conv2d(x, w, s, p), y) > 1e-3);
  p.up = 1;
  p.flip_weight.reset();
  Tensor y1 = modulated_conv2d(x, w, s, p);
  CHECK(y1.shape() == Shape{2, 5, 4, 4});
  p.flip_weight = true;
  CHECK(rel_error(modulated_conv2d(x, w, s, p), y1) == 0.0);
}

TEST_CASE("modulated_conv2d equals 'scale inputs by styles, shared conv, scale outputs by demod coefficients'") {
  // The non-fused form NVIDIA uses in training, built here from conv2d and broadcasting ops.
  Generator gen(17);
  const int64_t N = 3, H = 6, W = 5, I = 4, O = 3;
  Tensor x = Tensor::randn({N, H, W, I}, DType::f64, gen);
  Tensor w = Tensor::randn({O, 3, 3, I}, DType::f64, gen);
  Tensor s = Tensor::rand({N, I}, DType::f64, gen, 0.3, 1.7);
  ModConvParams p;
  p.padding = 1;
  Tensor fused = modulated_conv2d(x, w, s, p);
  Tensor xs = mul(x, s.view_as_shape({N, 1, 1, I}));
  Tensor shared = conv2d(xs, w, Tensor(), Conv2dParams::make(1, 1));
  Tensor dco = Tensor::empty({N, 1, 1, O}, DType::f64);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double ss = 0;
      for (int64_t k = 0; k < 9; ++k)
        for (int64_t i = 0; i < I; ++i) ss += std::pow(w.flat((o * 9 + k) * I + i) * s.flat(n * I + i), 2);
      dco.set_flat(n * O + o, 1 / std::sqrt(ss + 1e-8));
    }
  CHECK(rel_error(fused, mul(shared, dco)) < 1e-12);
}

TEST_CASE("gradcheck: modulate_weights (f64)") {
  Generator gen(21);
  for (bool demod : {true, false}) {
    CAPTURE(demod);
    Tensor w = rand_input({3, 2, 3, 2}, gen);
    Tensor s = rand_input({2, 2}, gen, 0.3, 1.5);
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return modulate_weights(in[0], in[1], demod); }, {w, s}) <=
          1.0);
  }
}

TEST_CASE("gradcheck: modulated_conv2d, up 1 and 2, flips, 1x1, noise (f64, odd sizes)") {
  Generator gen(23);
  struct Case {
    int64_t n, h, w, i, o, k, padding, up;
    bool demod, flip, noise;
  };
  std::vector<Case> cases = {
      {2, 3, 4, 2, 2, 3, 1, 1, true, true, false},   // conv1
      {2, 3, 3, 2, 2, 3, 1, 2, true, false, false},  // conv0 (up 2), the generator's flip
      {1, 3, 2, 2, 3, 3, 1, 2, true, true, false},   // up 2, rotated kernel
      {2, 3, 3, 3, 1, 1, 0, 1, false, true, false},  // toRGB
      {1, 2, 3, 2, 2, 1, 0, 2, false, false, false}, // 1x1 up 2
      {2, 3, 3, 2, 2, 3, 0, 1, true, false, true},   // rotated, unpadded, noise
      {2, 2, 3, 2, 2, 3, 1, 2, true, false, true},   // up 2 with per-sample noise
  };
  for (const Case& c : cases) {
    CAPTURE(c.k);
    CAPTURE(c.up);
    CAPTURE(c.flip);
    ModConvParams p;
    p.demodulate = c.demod;
    p.padding = c.padding;
    p.up = c.up;
    p.flip_weight = c.flip;
    Tensor x = rand_input({c.n, c.h, c.w, c.i}, gen);
    Tensor w = rand_input({c.o, c.k, c.k, c.i}, gen);
    Tensor s = rand_input({c.n, c.i}, gen, 0.3, 1.5);
    std::vector<Tensor> inputs = {x, w, s};
    if (c.noise) {
      const int64_t oh = c.h * c.up + 2 * c.padding - c.k + 1, ow = c.w * c.up + 2 * c.padding - c.k + 1;
      inputs.push_back(rand_input({c.n, oh, ow, 1}, gen));
    }
    auto f = [&](const std::vector<Tensor>& in) {
      return modulated_conv2d(in[0], in[1], in[2], p, in.size() > 3 ? in[3] : Tensor());
    };
    CHECK(gradcheck(f, inputs) <= 1.0);
  }
}

TEST_CASE("add_noise: values and gradients w.r.t. x, noise and strength") {
  Tensor x = Tensor::zeros({2, 2, 1, 3});
  Tensor noise = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2, 1, 1});
  Tensor strength = Tensor::full(Shape{}, 0.5);
  Tensor y = add_noise(x, noise, strength);
  REQUIRE(y.shape() == Shape{2, 2, 1, 3});
  CHECK(y.at(1, 0, 0, 2) == doctest::Approx(1.5));
  CHECK(y.at(0, 1, 0, 0) == doctest::Approx(1.0));

  Generator gen(31);
  for (Shape ss : {Shape{}, Shape{1}}) {
    for (int64_t nb : {int64_t(1), int64_t(2)}) {
      Tensor xi = rand_input({2, 3, 2, 3}, gen);
      Tensor ni = rand_input({nb, 3, 2, 1}, gen);
      Tensor si = rand_input(ss, gen);
      CHECK(gradcheck([](const std::vector<Tensor>& in) { return add_noise(in[0], in[1], in[2]); }, {xi, ni, si}) <= 1.0);
    }
  }
}

TEST_CASE("modulated_conv2d and friends reject bad arguments") {
  Tensor x = Tensor::zeros({2, 4, 4, 3});
  Tensor w = Tensor::zeros({5, 3, 3, 3});
  Tensor s = Tensor::ones({2, 3});
  CHECK_THROWS_AS(modulate_weights(w, Tensor::ones({2, 4})), Error);                    // styles width != I
  CHECK_THROWS_AS(modulate_weights(Tensor::zeros({5, 3, 3}), s), Error);                // weight not 4-d
  CHECK_THROWS_AS(modulate_weights(w, Tensor::ones({2, 3}, DType::f64)), Error);        // dtype mismatch
  CHECK_THROWS_AS(modulated_conv2d(Tensor::zeros({3, 4, 4, 3}), w, s), Error);          // batch != styles rows
  CHECK_THROWS_AS(modulated_conv2d(Tensor::zeros({2, 4, 4, 2}), w, s), Error);          // channels != I
  ModConvParams p;
  p.up = 0;
  CHECK_THROWS_AS(modulated_conv2d(x, w, s, p), Error);
  p.up = 1;
  p.padding = 1;
  CHECK_THROWS_AS(modulated_conv2d(x, w, s, p, Tensor::zeros({2, 4, 4, 2})), Error);    // noise with 2 channels
  CHECK_THROWS_AS(modulated_conv2d(x, w, s, p, Tensor::zeros({2, 3, 4, 1})), Error);    // noise of the wrong size
  p.up = 2;
  p.resample_filter = Tensor::ones({4});
  CHECK_THROWS_AS(modulated_conv2d(x, w, s, p), Error);                                 // 1-d filter
  CHECK_THROWS_AS(add_noise(x, Tensor::zeros({2, 4, 4, 1}), Tensor::ones({2})), Error);  // strength not a scalar
  CHECK_THROWS_AS(add_noise(x, Tensor::zeros({2, 4, 4, 3}), Tensor::ones({1})), Error);  // noise not [.., 1]
}
