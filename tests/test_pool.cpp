// Pooling: values against PyTorch (padding, ceil_mode, count_include_pad, dilation, adaptive windows), f64
// gradient checks, tie and NaN behaviour, errors.
#include <doctest/doctest.h>

#include <cmath>

#include "fixture_json.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::max_abs_diff;
using fer::testing::rand_input;
using fer::testing::shape_of;
using fer::testing::tensor_of;

namespace {
Pool2dParams params_of(const nlohmann::json& c) {
  Pool2dParams p;
  p.kernel = {c["k"][0], c["k"][1]};
  p.stride = {c["s"][0], c["s"][1]};
  p.padding = {c["p"][0], c["p"][1]};
  p.dilation = {c["d"][0], c["d"][1]};
  p.ceil_mode = c["ceil"];
  p.count_include_pad = c["cip"];
  return p;
}
}  // namespace

TEST_CASE("max/avg/adaptive pooling match PyTorch") {
  auto j = fer::testing::load_json_fixture("norm_pool/cases.json")["pool"];
  Tensor x = tensor_of(j["x"], shape_of(j["x_shape"]));
  for (const auto& c : j["cases"]) {
    CAPTURE(c["kind"].get<std::string>());
    CAPTURE(c.dump().substr(0, 120));
    Pool2dParams p = params_of(c);
    Tensor y = c["kind"] == "max" ? max_pool2d(x, p) : avg_pool2d(x, p);
    Shape want = shape_of(c["out_shape"]);
    REQUIRE(y.shape() == want);
    CHECK(max_abs_diff(y, tensor_of(c["y"], want)) < 1e-12);
  }
  Tensor xa = tensor_of(j["adaptive_x"], shape_of(j["adaptive_x_shape"]));
  for (const auto& c : j["adaptive"]) {
    int64_t oh = c["out"][0], ow = c["out"][1];
    Tensor y = adaptive_avg_pool2d(xa, oh, ow);
    CHECK(max_abs_diff(y, tensor_of(c["y"], {2, oh, ow, 3})) < 1e-12);
  }
}

TEST_CASE("gradcheck: pooling with padding, ceil_mode, dilation, count_include_pad") {
  Generator gen(3);
  for (int variant = 0; variant < 4; ++variant) {
    CAPTURE(variant);
    Pool2dParams p = Pool2dParams::make(3, 2, 1);
    p.ceil_mode = variant % 2 == 1;
    p.count_include_pad = variant < 2;
    if (variant == 3) p.dilation = {2, 1}, p.padding = {1, 0};
    // Distinct values (a random permutation scaled) so the max-pool argmax is stable under +-eps.
    Tensor x = rand_input({2, 7, 6, 3}, gen);
    CHECK(gradcheck([&](const std::vector<Tensor>& t) { return max_pool2d(t[0], p); }, {x}) <= 1.0);
    if (variant != 3) CHECK(gradcheck([&](const std::vector<Tensor>& t) { return avg_pool2d(t[0], p); }, {x}) <= 1.0);
  }
  Tensor x = rand_input({2, 7, 5, 2}, gen);
  for (auto [oh, ow] : {std::pair{1, 1}, {3, 2}, {4, 4}})
    CHECK(gradcheck([&](const std::vector<Tensor>& t) { return adaptive_avg_pool2d(t[0], oh, ow); }, {x}) <= 1.0);
}

TEST_CASE("max pool ties go to the first element, NaN propagates") {
  Tensor x = Tensor::from_vector<float>({1, 1, 1, 1}, {1, 2, 2, 1});
  x.set_requires_grad(true);
  Tensor y = max_pool2d(x, Pool2dParams::make(2));
  backward(sum(y));
  CHECK(x.grad().to_vector() == std::vector<double>{1, 0, 0, 0});
  Tensor xn = Tensor::from_vector<float>({1, NAN, 3, 2}, {1, 2, 2, 1});
  CHECK(std::isnan(max_pool2d(xn, Pool2dParams::make(2)).flat(0)));
}

TEST_CASE("pool errors") {
  Tensor x = Tensor::zeros({1, 4, 4, 2});
  CHECK_THROWS_WITH_AS(max_pool2d(x, Pool2dParams::make(2, 2, 2)), doctest::Contains("at most half the kernel"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({4, 4, 2}), Pool2dParams::make(2)), doctest::Contains("must be 4-d"), Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, Pool2dParams::make(5)), doctest::Contains("does not fit"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(x, 0, 1), doctest::Contains("must be positive"), Error);
}
