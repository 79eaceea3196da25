// Pooling: values and max-pool indices against PyTorch (tools/make_norm_pool_fixtures.py ->
// tests/data/norm_pool/pool.json: padding, ceil_mode and its dropped last window, overhanging windows,
// count_include_pad, stride != kernel, dilation, adaptive windows) in f64 and f32, f64 gradient checks, tie and NaN
// behaviour, gradient routing to the recorded argmax, record/replay, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "fixture_json.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::max_abs_diff;
using fer::testing::rand_input;
using fer::testing::shape_of;
using fer::testing::tensor_of;

namespace {

const nlohmann::json& pool_fixture() {
  static const nlohmann::json j = fer::testing::load_json_fixture("norm_pool/pool.json");
  return j;
}

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

Pool2dParams params(std::array<int64_t, 2> k, std::array<int64_t, 2> s, std::array<int64_t, 2> p,
                    std::array<int64_t, 2> d = {1, 1}, bool ceil_mode = false, bool count_include_pad = true) {
  Pool2dParams q;
  q.kernel = k, q.stride = s, q.padding = p, q.dilation = d;
  q.ceil_mode = ceil_mode, q.count_include_pad = count_include_pad;
  return q;
}

}  // namespace

TEST_CASE("max/avg pooling match PyTorch: values, shapes and max-pool indices") {
  const auto& j = pool_fixture();
  for (const auto& c : j["cases"])
    for (DType dt : {DType::f64, DType::f32}) {
      CAPTURE(c["kind"].get<std::string>());
      CAPTURE(c["k"].dump() + " s" + c["s"].dump() + " p" + c["p"].dump() + " d" + c["d"].dump() +
              " ceil=" + c["ceil"].dump() + " cip=" + c["cip"].dump());
      CAPTURE(dtype_name(dt));
      const auto& in = j["inputs"][c["input"].get<std::string>()];
      Tensor x = tensor_of(in["x"], shape_of(in["shape"]), dt);
      Pool2dParams p = params_of(c);
      Shape want = shape_of(c["out_shape"]);
      Tensor y;
      if (c["kind"] == "max") {
        auto [ym, idx] = max_pool2d_with_indices(x, p);
        y = ym;
        REQUIRE(idx.shape() == want);
        // Inputs have one decimal, so windows hold ties: the index shows which element won.
        std::vector<double> got = idx.to_vector(), expect = c["indices"].get<std::vector<double>>();
        CHECK(got == expect);
      } else {
        y = avg_pool2d(x, p);
      }
      REQUIRE(y.shape() == want);
      CHECK(max_abs_diff(y, tensor_of(c["y"], want)) < (dt == DType::f64 ? 1e-10 : 1e-6));
    }
}

TEST_CASE("adaptive_avg_pool2d matches PyTorch (1x1, 2x2, 3x3, 7x7, 4x5 and 5x13 from 11x9)") {
  const auto& j = pool_fixture();
  for (DType dt : {DType::f64, DType::f32}) {
    Tensor x = tensor_of(j["adaptive_x"]["x"], shape_of(j["adaptive_x"]["shape"]), dt);
    for (const auto& c : j["adaptive"]) {
      CAPTURE(c["out"].dump());
      CAPTURE(dtype_name(dt));
      int64_t oh = c["out"][0], ow = c["out"][1];
      Tensor y = adaptive_avg_pool2d(x, oh, ow);
      Shape want{x.size(0), oh, ow, x.size(3)};
      REQUIRE(y.shape() == want);
      CHECK(max_abs_diff(y, tensor_of(c["y"], want)) < (dt == DType::f64 ? 1e-10 : 1e-6));
    }
  }
}

TEST_CASE("pool output sizes follow PyTorch's rules") {
  using ops_detail::pool_output_size;
  CHECK(pool_output_size(56, 3, 1, 2, 1, false) == 28);  // ResNet stem
  CHECK(pool_output_size(9, 3, 0, 2, 1, true) == 4);     // ceil_mode adds the partial window
  CHECK(pool_output_size(9, 3, 0, 2, 1, false) == 4);
  CHECK(pool_output_size(8, 3, 0, 2, 1, true) == 4);
  CHECK(pool_output_size(8, 3, 0, 2, 1, false) == 3);
  CHECK(pool_output_size(8, 2, 1, 3, 1, true) == 3);  // a 4th window would start in the right padding: dropped
  CHECK(pool_output_size(4, 5, 0, 2, 1, true) == 1);  // the window overhangs the input, accepted in ceil_mode
  CHECK(pool_output_size(4, 5, 0, 2, 1, false) == 0);
  CHECK(pool_output_size(4, 5, 0, 1, 1, true) == 0);
  CHECK(pool_output_size(7, 3, 1, 1, 2, false) == 5);  // dilation: effective window 5
  Pool2dParams p = Pool2dParams::make(3);                // stride 0 (default) means stride = kernel
  CHECK(p.stride == std::array<int64_t, 2>{3, 3});
  CHECK(Pool2dParams::make(3, 2, 1).padding == std::array<int64_t, 2>{1, 1});
}

TEST_CASE("gradcheck: max/avg pooling with padding, ceil_mode, dilation, count_include_pad, odd shapes") {
  Generator gen(3);
  struct Case {
    Shape shape;
    Pool2dParams p;
  };
  // Continuous random inputs have no exact ties, so the argmax is stable under the +-1e-6 perturbations.
  std::vector<Case> cases = {
      {{2, 7, 6, 3}, params({3, 3}, {2, 2}, {1, 1})},
      {{2, 7, 6, 3}, params({3, 3}, {2, 2}, {1, 1}, {1, 1}, true)},
      {{1, 7, 6, 2}, params({3, 3}, {2, 2}, {1, 1}, {1, 1}, true, false)},
      {{2, 5, 8, 1}, params({3, 2}, {1, 3}, {1, 1}, {1, 1}, false, false)},
      {{1, 8, 5, 3}, params({2, 2}, {3, 3}, {1, 1}, {1, 1}, true)},  // windows clipped to the padded extent
      {{1, 4, 4, 2}, params({5, 5}, {2, 2}, {0, 0}, {1, 1}, true)},  // a window overhanging the input
      {{2, 3, 5, 2}, params({2, 2}, {1, 1}, {0, 0})},                // overlapping windows
  };
  for (const Case& c : cases) {
    CAPTURE(c.shape.str());
    CAPTURE(c.p.kernel[0]);
    CAPTURE(c.p.stride[0]);
    CAPTURE(c.p.ceil_mode);
    Tensor x = rand_input(c.shape, gen);
    CHECK(gradcheck([&](const std::vector<Tensor>& t) { return max_pool2d(t[0], c.p); }, {x}) <= 1.0);
    CHECK(gradcheck([&](const std::vector<Tensor>& t) { return avg_pool2d(t[0], c.p); }, {x}) <= 1.0);
  }
  // Dilation (max pool only).
  for (auto p : {params({3, 3}, {1, 2}, {1, 1}, {2, 1}), params({2, 3}, {2, 2}, {1, 1}, {2, 3}, true)}) {
    Tensor x = rand_input({2, 7, 9, 2}, gen);
    CHECK(gradcheck([&](const std::vector<Tensor>& t) { return max_pool2d(t[0], p); }, {x}) <= 1.0);
  }
}

TEST_CASE("gradcheck: adaptive_avg_pool2d (shrinking, overlapping and growing windows)") {
  Generator gen(8);
  Tensor x = rand_input({2, 7, 5, 2}, gen);
  for (auto [oh, ow] : {std::pair{1, 1}, {3, 2}, {4, 4}, {7, 5}, {9, 6}}) {
    CAPTURE(oh);
    CAPTURE(ow);
    CHECK(gradcheck([&](const std::vector<Tensor>& t) { return adaptive_avg_pool2d(t[0], oh, ow); }, {x}) <= 1.0);
  }
}

TEST_CASE("max pool: first maximum wins ties, the last NaN wins, all -inf windows pick the first pixel") {
  // PyTorch 1.13 (CPU, contiguous and channels_last alike): max_pool2d([[1, nan], [3, nan]], 2) = nan at index 3;
  // [[2, 5], [5, 1]] -> 5 at index 1; an all -inf input padded by 1 -> -inf at indices 0, 1, 2, 3.
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    auto [yn, in] = max_pool2d_with_indices(Tensor::from_vector<double>({1, nan, 3, nan}, {1, 2, 2, 1}).to(dt),
                                            Pool2dParams::make(2));
    CHECK(std::isnan(yn.flat(0)));
    CHECK(in.flat(0) == 3);
    auto [yt, it] = max_pool2d_with_indices(Tensor::from_vector<double>({2, 5, 5, 1}, {1, 2, 2, 1}).to(dt),
                                            Pool2dParams::make(2));
    CHECK(yt.flat(0) == 5);
    CHECK(it.flat(0) == 1);
    auto [yi, ii] = max_pool2d_with_indices(Tensor::full({1, 2, 2, 1}, -inf, dt), Pool2dParams::make(2, 1, 1));
    CHECK(yi.to_vector() == std::vector<double>(9, -inf));
    CHECK(ii.to_vector() == std::vector<double>{0, 0, 1, 0, 0, 1, 2, 2, 3});
  }
  // The gradient of a tie goes to the first maximum only.
  Tensor x = Tensor::from_vector<float>({1, 1, 1, 1}, {1, 2, 2, 1});
  x.set_requires_grad(true);
  backward(sum(max_pool2d(x, Pool2dParams::make(2))));
  CHECK(x.grad().to_vector() == std::vector<double>{1, 0, 0, 0});
}

TEST_CASE("max pool backward accumulates into the recorded argmax of overlapping windows") {
  Generator gen(12);
  Tensor x = Tensor::rand({2, 6, 5, 3}, DType::f32, gen, -1, 1);
  x.set_requires_grad(true);
  Pool2dParams p = params({3, 3}, {1, 2}, {1, 1}, {1, 1}, true);
  auto [y, idx] = max_pool2d_with_indices(x, p);
  Tensor gy = Tensor::randn(y.shape(), DType::f32, gen);
  backward(y, gy);
  std::vector<double> expect(size_t(x.numel()), 0.0);
  int64_t h = 6, w = 5, c = 3, plane = y.size(1) * y.size(2);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t n = i / (plane * c), k = i % c;
    expect[size_t((n * h * w + int64_t(idx.flat(i))) * c + k)] += gy.flat(i);
  }
  std::vector<double> got = x.grad().to_vector();
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expect[i]).epsilon(1e-6));
}

TEST_CASE("replayed pooling recomputes values and indices for new inputs") {
  Generator gen(2);
  Tensor x = Tensor::randn({2, 5, 5, 4}, DType::f32, gen);
  x.set_requires_grad(true);
  Pool2dParams p = Pool2dParams::make(3, 2, 1);
  Graph g = Graph::capture([&] { return sum(add(max_pool2d(x, p), avg_pool2d(x, p))); });
  Tensor x2 = Tensor::randn(x.shape(), DType::f32, gen);
  x.copy_(x2);
  g.forward();
  x.drop_grad();
  g.backward();
  Tensor replay_grad = x.grad().clone();
  double replay_out = g.output().item();
  // Eager reference on the same values.
  Tensor xe = x2.clone();
  xe.set_requires_grad(true);
  Tensor out = sum(add(max_pool2d(xe, p), avg_pool2d(xe, p)));
  backward(out);
  CHECK(replay_out == doctest::Approx(out.item()).epsilon(1e-6));
  CHECK(max_abs_diff(replay_grad, xe.grad()) < 1e-6);
}

TEST_CASE("pool errors") {
  Tensor x = Tensor::zeros({1, 4, 4, 2});
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({4, 4, 2}), Pool2dParams::make(2)), doctest::Contains("must be 4-d"), Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(Tensor::zeros({1, 1, 4, 4, 2}), Pool2dParams::make(2)), doctest::Contains("must be 4-d"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(Tensor::zeros({4, 4, 2}), 1, 1), doctest::Contains("must be 4-d"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, Pool2dParams::make(2, 2, 2)), doctest::Contains("at most half the kernel"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, Pool2dParams::make(0)), doctest::Contains("must be >= 1"), Error);
  // Kernel larger than the padded input.
  CHECK_THROWS_WITH_AS(avg_pool2d(x, Pool2dParams::make(5)), doctest::Contains("does not fit"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, params({3, 3}, {1, 1}, {0, 0}, {2, 2})), doctest::Contains("does not fit"), Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, params({2, 2}, {2, 2}, {0, 0}, {2, 2})), doctest::Contains("dilation"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(x, 0, 1), doctest::Contains("must be positive"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(Tensor::zeros({1, 4, 4, 2}, DType::i32), Pool2dParams::make(2)),
                       doctest::Contains("not supported"), Error);
}
