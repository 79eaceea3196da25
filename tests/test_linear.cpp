// linear and matmul: values against direct loops, gradient checks (2-d, 3-d, batched), errors.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <vector>

#include "fer/ops/linear.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::max_abs_diff;
using fer::testing::rand_input;

namespace {

// c[b] = a[b] * m[b] in double by the definition (a [B, M, K], m [B, K, N], B = 1 for 2-d operands).
Tensor reference_matmul(const Tensor& a, const Tensor& m) {
  const bool batched = a.dim() == 3;
  const int64_t nb = batched ? a.size(0) : 1, rows = a.size(-2), inner = a.size(-1), cols = m.size(-1);
  Tensor c = Tensor::zeros(batched ? Shape{nb, rows, cols} : Shape{rows, cols}, DType::f64);
  const std::vector<double> av = a.to_vector(), mv = m.to_vector();
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        double s = 0;
        for (int64_t k = 0; k < inner; ++k)
          s += av[size_t((b * rows + i) * inner + k)] * mv[size_t((b * inner + k) * cols + j)];
        c.set_flat((b * rows + i) * cols + j, s);
      }
  return c;
}

}  // namespace

TEST_CASE("linear forward: a hand-computed example") {
  // x [2, 3], w [2, 3] (PyTorch Linear layout), b [2]: y = x w^T + b.
  Tensor x = Tensor::from_vector<float>({1, 2, 3, -1, 0, 2}, {2, 3});
  Tensor w = Tensor::from_vector<float>({1, 0, -1, 0.5f, 2, 1}, {2, 3});
  Tensor b = Tensor::from_vector<float>({0.5f, -1}, {2});
  Tensor y = linear(x, w, b);
  REQUIRE(y.shape() == Shape{2, 2});
  const std::vector<double> want = {1 - 3 + 0.5, 0.5 + 4 + 3 - 1, -1 - 2 + 0.5, -0.5 + 2 - 1};
  for (int64_t i = 0; i < 4; ++i) CHECK(y.flat(i) == doctest::Approx(want[size_t(i)]).epsilon(1e-6));
  Tensor y0 = linear(x, w);  // no bias
  CHECK(y0.flat(0) == doctest::Approx(-2.0));
}

TEST_CASE("linear forward matches the definition for 1-d, 2-d and 3-d inputs in f32 and f64") {
  Generator gen(17);
  for (DType dt : {DType::f32, DType::f64}) {
    for (Shape xs : {Shape{7}, Shape{5, 7}, Shape{3, 4, 7}, Shape{70, 7}}) {
      CAPTURE(xs.str());
      Tensor x = Tensor::rand(xs, dt, gen, -1, 1);
      Tensor w = Tensor::rand({9, 7}, dt, gen, -1, 1);
      Tensor b = Tensor::rand({9}, dt, gen, -1, 1);
      Tensor y = linear(x, w, b);
      Shape ys = xs;
      ys[ys.nd - 1] = 9;
      REQUIRE(y.shape() == ys);
      const int64_t rows = x.numel() / 7;
      double worst = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < 9; ++o) {
          double s = b.flat(o);
          for (int64_t k = 0; k < 7; ++k) s += x.flat(r * 7 + k) * w.flat(o * 7 + k);
          worst = std::max(worst, std::abs(y.flat(r * 9 + o) - s));
        }
      CHECK(worst < (dt == DType::f32 ? 1e-5 : 1e-13));
    }
  }
}

TEST_CASE("linear gradients at sizes large enough to split each product over threads") {
  // Products above ~1e5 multiply-adds are cut into per-thread slabs of rows or columns (transposed or not);
  // these shapes reach every variant. Reference: the gradient formulas evaluated by direct loops.
  Generator gen(23);
  for (auto [rows, in, out] : {std::array<int64_t, 3>{70, 130, 90}, std::array<int64_t, 3>{50, 90, 130}}) {
    CAPTURE(rows);
    Tensor x = rand_input({rows, in}, gen), w = rand_input({out, in}, gen), b = rand_input({out}, gen);
    Tensor gy = Tensor::rand({rows, out}, DType::f64, gen, -1, 1);
    Tensor y = linear(x, w, b);
    backward(y, gy);
    double fwd = 0, gx_err = 0, gw_err = 0, gb_err = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double s = b.flat(o);
        for (int64_t k = 0; k < in; ++k) s += x.flat(r * in + k) * w.flat(o * in + k);
        fwd = std::max(fwd, std::abs(y.flat(r * out + o) - s));
      }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < in; ++k) {
        double s = 0;
        for (int64_t o = 0; o < out; ++o) s += gy.flat(r * out + o) * w.flat(o * in + k);
        gx_err = std::max(gx_err, std::abs(x.grad().flat(r * in + k) - s));
      }
    for (int64_t o = 0; o < out; ++o) {
      double sb = 0;
      for (int64_t r = 0; r < rows; ++r) sb += gy.flat(r * out + o);
      gb_err = std::max(gb_err, std::abs(b.grad().flat(o) - sb));
      for (int64_t k = 0; k < in; ++k) {
        double s = 0;
        for (int64_t r = 0; r < rows; ++r) s += gy.flat(r * out + o) * x.flat(r * in + k);
        gw_err = std::max(gw_err, std::abs(w.grad().flat(o * in + k) - s));
      }
    }
    CHECK(fwd < 1e-12);
    CHECK(gx_err < 1e-12);
    CHECK(gw_err < 1e-12);
    CHECK(gb_err < 1e-12);
  }
}

TEST_CASE("gradcheck linear (f64): 2-d, 3-d [B, T, in], without bias") {
  Generator gen(2);
  Tensor w = rand_input({4, 5}, gen), b = rand_input({4}, gen);
  auto f = [](const std::vector<Tensor>& t) { return linear(t[0], t[1], t.size() > 2 ? t[2] : Tensor()); };
  CHECK(gradcheck(f, {rand_input({3, 5}, gen), w, b}) <= 1.0);
  CHECK(gradcheck(f, {rand_input({2, 3, 5}, gen), w, b}) <= 1.0);
  CHECK(gradcheck(f, {rand_input({7, 5}, gen), rand_input({3, 5}, gen)}) <= 1.0);
  CHECK(gradcheck(f, {rand_input({5}, gen), w, b}) <= 1.0);
}

TEST_CASE("matmul forward matches the definition, plain and batched, large enough to thread") {
  Generator gen(9);
  for (DType dt : {DType::f32, DType::f64}) {
    struct Dims {
      Shape a, b;
    };
    for (const Dims& d : {Dims{{3, 5}, {5, 4}}, Dims{{4, 3, 5}, {4, 5, 2}}, Dims{{131, 67}, {67, 97}},
                          Dims{{2, 150, 140}, {2, 140, 130}}}) {
      CAPTURE(d.a.str());
      Tensor a = Tensor::rand(d.a, dt, gen, -1, 1), m = Tensor::rand(d.b, dt, gen, -1, 1);
      Tensor c = matmul(a, m);
      Tensor want = reference_matmul(a, m);
      REQUIRE(c.shape() == want.shape());
      CHECK(max_abs_diff(c.to(DType::f64), want) < (dt == DType::f32 ? 1e-4 : 1e-12));
    }
  }
}

TEST_CASE("gradcheck matmul (f64): plain, batched, odd sizes") {
  Generator gen(13);
  auto f = [](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); };
  CHECK(gradcheck(f, {rand_input({3, 5}, gen), rand_input({5, 2}, gen)}) <= 1.0);
  CHECK(gradcheck(f, {rand_input({3, 2, 5}, gen), rand_input({3, 5, 3}, gen)}) <= 1.0);
  CHECK(gradcheck(f, {rand_input({1, 7}, gen), rand_input({7, 1}, gen)}) <= 1.0);
}

TEST_CASE("linear and matmul accept non-contiguous operands") {
  Generator gen(6);
  // Every other row of a [6, 5] matrix: a strided view with 3 rows.
  Tensor base = Tensor::rand({6, 5}, DType::f64, gen, -1, 1);
  auto impl = std::make_shared<TensorImpl>(*base.impl());
  impl->shape = Shape{3, 5};
  impl->strides = Shape{10, 1};
  Tensor x(impl);
  REQUIRE_FALSE(x.is_contiguous());
  x.set_requires_grad(true);
  Tensor w = rand_input({4, 5}, gen);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return linear(t[0], t[1]); }, {x, w}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); }, {x, rand_input({5, 2}, gen)}) <=
        1.0);
}

TEST_CASE("linear and matmul reject mismatched shapes") {
  Tensor x = Tensor::zeros({4, 5});
  CHECK_THROWS_WITH_AS(linear(x, Tensor::zeros({3, 6})), doctest::Contains("has 5 features"), Error);
  CHECK_THROWS_WITH_AS(linear(x, Tensor::zeros({3, 5, 1})), doctest::Contains("weight [out, in]"), Error);
  CHECK_THROWS_WITH_AS(linear(x, Tensor::zeros({3, 5}), Tensor::zeros({4})), doctest::Contains("bias must be [3]"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(x, Tensor::zeros({3, 5}, DType::f64)), doctest::Contains("dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(matmul(x, Tensor::zeros({4, 5})), doctest::Contains("inner dimensions differ"), Error);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({2, 4, 5}), Tensor::zeros({3, 5, 2})),
                       doctest::Contains("batch sizes differ"), Error);
  CHECK_THROWS_WITH_AS(matmul(x, Tensor::zeros({2, 5, 2})), doctest::Contains("expected [M, K] x [K, N]"), Error);
  CHECK_THROWS_WITH_AS(matmul(Tensor::zeros({5}), Tensor::zeros({5})), doctest::Contains("expected"), Error);
}
