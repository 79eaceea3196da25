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

// Tensors big enough that the layout kernels split their rows over several parallel chunks, each starting in the
// middle of a run (kernels/cpu/shape.cpp), against element-by-element references; the gradients go back through the
// scatter, both written and (x read twice) accumulated.
TEST_CASE("layout kernels on large odd shapes: permute, slice, channel shuffle and their gradients") {
  const Shape s{3, 37, 29, 10};
  Tensor x = iota(s).set_requires_grad(true);
  const auto at = [&](int64_t a, int64_t b, int64_t c, int64_t d) { return double(((a * 37 + b) * 29 + c) * 10 + d); };

  Tensor p = permute(x, {2, 0, 3, 1});  // [29, 3, 10, 37]
  bool same = true;
  for (int64_t i = 0; i < 29; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 10; ++k)
        for (int64_t l = 0; l < 37; ++l) same = same && p.flat(((i * 3 + j) * 10 + k) * 37 + l) == at(j, l, i, k);
  CHECK(same);

  Tensor sl = slice(x, 1, 5, 36, 3);  // [3, 11, 29, 10]: rows 5, 8, ..., 35
  same = true;
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t b = 0; b < 11; ++b)
      for (int64_t c = 0; c < 29; ++c)
        for (int64_t d = 0; d < 10; ++d) same = same && sl.flat(((a * 11 + b) * 29 + c) * 10 + d) == at(a, 5 + 3 * b, c, d);
  CHECK(same);

  Tensor sh = channel_shuffle(x, 5);  // 10 channels in 5 groups of 2: channel g*2+j moves to j*5+g
  same = true;
  for (int64_t r = 0; r < 3 * 37 * 29; ++r)
    for (int64_t g = 0; g < 5; ++g)
      for (int64_t j = 0; j < 2; ++j) same = same && sh.flat(r * 10 + j * 5 + g) == double(r * 10 + g * 2 + j);
  CHECK(same);

  // d/dx of sum(w_p * permute(x)) + sum(w_s * shuffle(x)) = the weights mapped back, added where both reach.
  Tensor wp = iota(p.shape()), ws = iota(sh.shape());
  backward(add(sum(mul(p, wp)), sum(mul(sh, ws))));
  const Tensor gx = x.grad();
  same = true;
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t b = 0; b < 37; ++b)
      for (int64_t c = 0; c < 29; ++c)
        for (int64_t d = 0; d < 10; ++d) {
          const int64_t flat = ((a * 37 + b) * 29 + c) * 10 + d, g = d / 2, j = d % 2;
          const double from_p = double(((c * 3 + a) * 10 + d) * 37 + b);
          const double from_s = double((flat - d) + j * 5 + g);
          same = same && gx.flat(flat) == from_p + from_s;
        }
  CHECK(same);
}
