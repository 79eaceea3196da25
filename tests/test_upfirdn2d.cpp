// upfirdn2d: NVIDIA's semantics against torch references (tests/data/sg2ops/upfirdn2d.json from
// tools/make_sg2_op_fixtures.py), a hand-computed case, the 2x helpers, gradient checks and argument errors.
#include <doctest/doctest.h>

#include "fer/ops/upfirdn2d.hpp"
#include "gradcheck.hpp"
#include "sg2_fixture.hpp"

using namespace fer;
using fer::testing::fixture_cotangent;
using fer::testing::fixture_tensor;
using fer::testing::gradcheck;
using fer::testing::rand_input;
using fer::testing::rel_error;

TEST_CASE("upfirdn2d: a hand-computed 1-d upsampling") {
  // x = [1, 2, 3] along W, up_x 2 -> [1, 0, 2, 0, 3, 0]; a true convolution with [1, 2] is the correlation with
  // [2, 1]: y[o] = 2 z[o] + z[o + 1] = [2, 2, 4, 3, 6]. With flip_filter the filter is used as stored: [1, 4, 2, 6, 3].
  Tensor x = Tensor::from_vector<float>({1, 2, 3}, {1, 1, 3, 1});
  Tensor f = Tensor::from_vector<float>({1, 2}, {1, 2});
  UpFirDnParams p;
  p.up_x = 2;
  CHECK(upfirdn2d(x, f, p).to_vector() == std::vector<double>{2, 2, 4, 3, 6});
  p.flip_filter = true;
  CHECK(upfirdn2d(x, f, p).to_vector() == std::vector<double>{1, 4, 2, 6, 3});
  // Negative pads crop, down keeps every other sample, gain scales.
  p.pad_x0 = -1;
  p.pad_x1 = 1;
  p.down_x = 2;
  p.gain = 0.5;
  // padded signal [0, 2, 0, 3, 0, 0] -> correlation with [1, 2] = [4, 2, 6, 3, 0] -> every 2nd = [4, 6, 0] * 0.5
  CHECK(upfirdn2d(x, f, p).to_vector() == std::vector<double>{2, 3, 0});
}

TEST_CASE("upfirdn2d matches the torch reference (f32 and f64, values and input gradient)") {
  auto cases = fer::testing::load_sg2_fixture("upfirdn2d.json");
  REQUIRE(cases.size() >= 5);
  for (const auto& c : cases) {
    CAPTURE(c.at("name").get<std::string>());
    UpFirDnParams p;
    p.up_x = c["up"][0];
    p.up_y = c["up"][1];
    p.down_x = c["down"][0];
    p.down_y = c["down"][1];
    p.pad_x0 = c["pad"][0];
    p.pad_x1 = c["pad"][1];
    p.pad_y0 = c["pad"][2];
    p.pad_y1 = c["pad"][3];
    p.flip_filter = c["flip_filter"];
    p.gain = c["gain"];
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dt));
      const double tol = dt == DType::f32 ? 1e-5 : 1e-9;
      Tensor x = fixture_tensor(c["x"], dt).set_requires_grad(true);
      Tensor y = upfirdn2d(x, fixture_tensor(c["f"], DType::f64), p);
      CHECK(rel_error(y, fixture_tensor(c["y"], dt)) < tol);
      backward(y, fixture_cotangent(y.shape(), dt));
      CHECK(rel_error(x.grad(), fixture_tensor(c["grad_x"], dt)) < tol);
    }
  }
}

TEST_CASE("setup_filter and the 2x helpers") {
  Tensor f = setup_filter({1, 3, 3, 1});
  REQUIRE(f.shape() == Shape{4, 4});
  CHECK(f.at(0, 0) == doctest::Approx(1.0 / 64));
  CHECK(f.at(1, 2) == doctest::Approx(9.0 / 64));
  CHECK(f.at(3, 1) == doctest::Approx(3.0 / 64));
  CHECK(setup_filter({1, 2}, false, DType::f64).to_vector() == std::vector<double>{1, 2, 2, 4});

  // 2x up of a constant image: shape doubles, the interior stays constant (filter sums to 1, gain 4).
  Tensor x = Tensor::full({1, 5, 3, 2}, 1.5);
  Tensor up = upsample2d(x, f);
  REQUIRE(up.shape() == Shape{1, 10, 6, 2});
  for (int64_t yy = 2; yy < 8; ++yy) CHECK(up.at(0, yy, 3, 1) == doctest::Approx(1.5));
  // 2x down of an odd size rounds down (NVIDIA: (7 + 1 + 1 - 4) / 2 + 1 = 3), the interior stays constant.
  Tensor down = downsample2d(Tensor::full({2, 7, 6, 3}, -2.0), f);
  REQUIRE(down.shape() == Shape{2, 3, 3, 3});
  CHECK(down.at(1, 1, 1, 2) == doctest::Approx(-2.0));
  CHECK(down.at(0, 2, 1, 0) == doctest::Approx(-2.0));
  // A 1-tap filter (narrower than the factor) gets NVIDIA's floor-divided, negative pad: output exactly 2x.
  Tensor one = Tensor::ones({1, 1});
  CHECK(upsample2d(x, one).shape() == Shape{1, 10, 6, 2});
  CHECK(downsample2d(Tensor::ones({1, 6, 6, 1}), one).shape() == Shape{1, 3, 3, 1});
}

TEST_CASE("gradcheck: upfirdn2d over up/down/pads/filters (f64, odd sizes)") {
  Generator gen(11);
  struct Case {
    Shape x;
    int64_t fh, fw, up_x, up_y, down_x, down_y, px0, px1, py0, py1;
    bool flip;
    double gain;
  };
  std::vector<Case> cases = {
      {{2, 3, 4, 3}, 4, 4, 2, 2, 1, 1, 2, 1, 2, 1, false, 4.0},   // upsample2d
      {{1, 5, 7, 2}, 4, 4, 1, 1, 2, 2, 1, 1, 1, 1, false, 1.0},   // downsample2d, odd sizes
      {{2, 4, 3, 2}, 3, 2, 2, 1, 1, 2, -1, 2, 1, -2, true, 1.7},  // mixed factors, negative pads
      {{1, 3, 4, 3}, 2, 3, 3, 3, 2, 2, 2, -1, 0, 3, false, 0.6},  // up 3 down 2
      {{1, 4, 4, 5}, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false, 1.0},   // plain FIR
      {{2, 5, 3, 1}, 1, 4, 1, 2, 3, 1, 0, 2, -1, 1, true, 2.0},   // row filter, down 3
  };
  for (const Case& c : cases) {
    CAPTURE(c.x.str());
    CAPTURE(c.fh);
    CAPTURE(c.fw);
    Tensor x = rand_input(c.x, gen);
    Tensor f = Tensor::rand({c.fh, c.fw}, DType::f64, gen, -1, 1);
    UpFirDnParams p{c.up_x, c.up_y, c.down_x, c.down_y, c.px0, c.px1, c.py0, c.py1, c.flip, c.gain};
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return upfirdn2d(in[0], f, p); }, {x}) <= 1.0);
  }
}

TEST_CASE("upfirdn2d rejects bad arguments") {
  Tensor x = Tensor::zeros({1, 4, 4, 2});
  Tensor f = setup_filter({1, 3, 3, 1});
  CHECK_THROWS_AS(upfirdn2d(Tensor::zeros({4, 4, 2}), f), Error);                   // not NHWC
  CHECK_THROWS_AS(upfirdn2d(x, Tensor::ones({4})), Error);                          // 1-d filter
  CHECK_THROWS_AS(upfirdn2d(x, Tensor()), Error);                                   // no filter
  CHECK_THROWS_AS(upfirdn2d(x, f, UpFirDnParams{0, 1, 1, 1}), Error);               // up 0
  CHECK_THROWS_AS(upfirdn2d(x, f, UpFirDnParams{1, 1, 1, 1, -1, 0, 0, 0}), Error);  // empty output (4-1 < 4)
  CHECK_THROWS_AS(upfirdn2d(Tensor::zeros({1, 4, 4, 2}, DType::i32), f), Error);    // integer input
  Tensor learnable = setup_filter({1, 1}).set_requires_grad(true);
  CHECK_THROWS_AS(upfirdn2d(x, learnable), Error);
  CHECK_THROWS_AS(upsample2d(x, f, 0), Error);
}
