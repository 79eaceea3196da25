// Shape and layout ops: values against hand-computed layouts, f64 gradient checks, views, errors.
#include <doctest/doctest.h>

#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::rand_input;

namespace {
Tensor iota(const Shape& s) {
  std::vector<double> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i);
  return Tensor::from_vector<double>(v, s);
}
}  // namespace

TEST_CASE("reshape/flatten share storage; permute and NHWC<->NCHW move elements") {
  Tensor x = iota({2, 3, 4, 5});
  Tensor f = flatten(x);
  CHECK(f.shape() == Shape{2, 60});
  CHECK(f.raw_data() == x.raw_data());
  CHECK(reshape(x, {-1, 5}).shape() == Shape{24, 5});
  Tensor nchw = nhwc_to_nchw(x);  // [2, 5, 3, 4]
  CHECK(nchw.shape() == Shape{2, 5, 3, 4});
  CHECK(nchw.at(1, 2, 1, 3) == x.at(1, 1, 3, 2));
  Tensor back = nchw_to_nhwc(nchw);
  CHECK(back.to_vector() == x.to_vector());
  CHECK_THROWS_WITH_AS(reshape(x, {7, -1}), doctest::Contains("cannot infer"), Error);
  CHECK_THROWS_WITH_AS(permute(x, {0, 1, 1, 2}), doctest::Contains("repeated"), Error);
}

TEST_CASE("concat, split, chunk, slice") {
  Tensor a = iota({2, 2, 3}), b = affine(iota({2, 2, 1}), 1, 100);
  Tensor c = concat({a, b}, -1);
  CHECK(c.shape() == Shape{2, 2, 4});
  CHECK(c.at(1, 0, 2) == a.at(1, 0, 2));
  CHECK(c.at(1, 0, 3) == b.at(1, 0, 0));
  auto parts = split(c, {3, 1}, 2);
  CHECK(parts[0].to_vector() == a.to_vector());
  CHECK(parts[1].to_vector() == b.to_vector());
  auto ch = chunk(iota({7}), 3, 0);  // PyTorch: sizes 3, 3, 1
  REQUIRE(ch.size() == 3);
  CHECK(ch[2].to_vector() == std::vector<double>{6});
  Tensor s = slice(iota({10}), 0, 1, 100, 3);  // 1, 4, 7
  CHECK(s.to_vector() == std::vector<double>{1, 4, 7});
  CHECK(slice(iota({10}), 0, -3, 10).to_vector() == std::vector<double>{7, 8, 9});
  CHECK_THROWS_WITH_AS(concat({a, iota({2, 3, 3})}, -1), doctest::Contains("does not match"), Error);
  CHECK_THROWS_WITH_AS(split(c, {3, 2}, 2), doctest::Contains("sum to 5"), Error);
}

TEST_CASE("pad2d pads with a value and crops with negative amounts") {
  Tensor x = iota({1, 2, 3, 1});
  Tensor y = pad2d(x, {1, 0, 0, 2}, -1.0);
  CHECK(y.shape() == Shape{1, 3, 5, 1});
  CHECK(y.at(0, 0, 0, 0) == -1.0);
  CHECK(y.at(0, 1, 0, 0) == 0.0);
  CHECK(y.at(0, 2, 2, 0) == 5.0);
  CHECK(y.at(0, 2, 4, 0) == -1.0);
  Tensor crop = pad2d(x, {0, -1, -1, 0});
  CHECK(crop.to_vector() == std::vector<double>{1, 2});
  CHECK_THROWS_WITH_AS(pad2d(x, {-2, 0, 0, 0}), doctest::Contains("leaves nothing"), Error);
}

TEST_CASE("gradcheck: every layout op, odd sizes, non-contiguous inputs") {
  Generator gen(2);
  Tensor x = rand_input({2, 3, 5}, gen), y = rand_input({2, 3, 2}, gen);
  Tensor img = rand_input({2, 3, 4, 6}, gen);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return reshape(t[0], {5, -1}); }, {x}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return flatten(t[0], 0, 1); }, {x}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return permute(t[0], {2, 0, 1}); }, {x}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return concat({t[0], t[1], t[0]}, 2); }, {x, y}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return split(t[0], {2, 3}, 2)[1]; }, {x}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return slice(t[0], 1, 0, 3, 2); }, {x}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return channel_shuffle(t[0], 2); }, {img}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return pad2d(t[0], {1, 2, -1, 1}, 0.5); }, {img}) <= 1.0);
  // A permuted (non-contiguous) input goes through the recorded contiguous copy.
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return channel_shuffle(permute(t[0], {0, 2, 1, 3}), 3); }, {img}) <= 1.0);
}
