// Dropout and stochastic depth: drop rates within binomial tolerance, scaling, eval identity, whole samples in row
// mode, new masks on each replay of a captured step, and gradients that follow the mask.
#include <doctest/doctest.h>

#include <cmath>

#include "gradcheck.hpp"

using namespace fer;

TEST_CASE("dropout drops a fraction p and scales survivors by 1/(1-p)") {
  Generator gen(1);
  Tensor x = Tensor::ones({100000});
  Tensor y = dropout(x, 0.25, true, gen);
  int64_t zeros = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    double v = y.flat(i);
    if (v == 0) ++zeros;
    else CHECK(v == doctest::Approx(1.0 / 0.75));
  }
  // Binomial(100000, 0.25): sd ~ 137; allow 5 sd.
  CHECK(std::abs(double(zeros) - 25000.0) < 685.0);
  CHECK(dropout(x, 0.25, false, gen).same(x));
  CHECK(dropout(x, 0.0, true, gen).same(x));
  CHECK(sum(dropout(x, 1.0, true, gen)).item() == 0.0);
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, true, gen), doctest::Contains("p must be in [0, 1]"), Error);
}

TEST_CASE("stochastic depth (row mode) zeroes whole samples") {
  Generator gen(3);
  Tensor x = Tensor::ones({400, 2, 2, 3});
  Tensor y = stochastic_depth(x, 0.5, true, true, gen);
  int64_t dropped = 0;
  for (int64_t n = 0; n < 400; ++n) {
    double first = y.at(n, 0, 0, 0);
    for (int64_t i = 0; i < 12; ++i) CHECK(y.flat(n * 12 + i) == first);
    dropped += first == 0;
    if (first != 0) CHECK(first == 2.0);
  }
  CHECK(std::abs(double(dropped) - 200.0) < 50.0);  // sd 10
  Tensor z = stochastic_depth(x, 0.5, false, true, gen);  // batch mode: all or nothing
  CHECK((sum(z).item() == 0.0 || sum(z).item() == 2.0 * 4800));
}

TEST_CASE("replays draw new masks; gradients follow the mask") {
  Generator gen(5);
  Tensor x = Tensor::ones({64});
  x.set_requires_grad(true);
  Graph g = Graph::capture([&] { return sum(dropout(x, 0.5, true, gen)); });
  double first = g.output().item();
  bool changed = false;
  for (int k = 0; k < 5 && !changed; ++k) {
    g.forward();
    changed = g.output().item() != first;
  }
  CHECK(changed);
  // Eager: gradient equals the mask.
  Tensor x2 = Tensor::ones({1000}, DType::f64);
  x2.set_requires_grad(true);
  Tensor y = dropout(x2, 0.3, true, gen);
  backward(sum(y));
  for (int64_t i = 0; i < 1000; ++i) CHECK(x2.grad().flat(i) == y.flat(i));
  // Finite differences with a fixed mask: re-seed before every evaluation.
  Tensor xin = fer::testing::rand_input({3, 2, 2, 2}, gen);
  CHECK(fer::testing::gradcheck(
            [](const std::vector<Tensor>& t) {
              Generator fixed(99);
              return stochastic_depth(t[0], 0.4, true, true, fixed);
            },
            {xin}) <= 1.0);
}
