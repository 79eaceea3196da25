#pragma once
// Finite-difference gradient check in f64.
//
// For f: inputs -> output, draws a fixed random cotangent R, backpropagates R through the tape to get the
// analytic gradient of L = <f(x), R> for every input that requires grad, and compares each element with the
// central difference (L(x + eps) - L(x - eps)) / 2eps computed with grad mode off.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "fer/fer.hpp"

namespace fer::testing {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
  uint64_t seed = 1234;
};

// Returns the largest violation ratio |analytic - numeric| / (atol + rtol * |numeric|) (<= 1 means pass)
// and reports the first failing element through doctest.
inline double gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f, std::vector<Tensor> inputs,
                        GradcheckOptions opt = {}) {
  for (const Tensor& t : inputs) REQUIRE_MESSAGE(t.dtype() == DType::f64, "gradcheck needs f64 inputs");
  Tape::current().clear();
  for (Tensor& t : inputs)
    if (t.requires_grad()) t.drop_grad();
  Tensor out = f(inputs);
  Generator gen(opt.seed);
  Tensor cot = Tensor::randn(out.shape(), DType::f64, gen);
  backward(out, cot);

  auto loss = [&]() {
    NoGradGuard ng;
    Tensor o = f(inputs);
    double s = 0;
    for (int64_t i = 0; i < o.numel(); ++i) s += o.flat(i) * cot.flat(i);
    return s;
  };
  double worst = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    Tensor g = x.grad();
    REQUIRE_MESSAGE(g.defined(), "input ", k, " received no gradient");
    for (int64_t i = 0; i < x.numel(); ++i) {
      double v = x.flat(i);
      x.set_flat(i, v + opt.eps);
      double lp = loss();
      x.set_flat(i, v - opt.eps);
      double lm = loss();
      x.set_flat(i, v);
      double numeric = (lp - lm) / (2 * opt.eps);
      double analytic = g.flat(i);
      double ratio = std::abs(analytic - numeric) / (opt.atol + opt.rtol * std::abs(numeric));
      if (ratio > 1 && worst <= 1)
        FAIL_CHECK("gradient mismatch: input ", k, " element ", i, " analytic ", analytic, " numeric ", numeric);
      worst = std::max(worst, ratio);
    }
  }
  Tape::current().clear();
  return worst;
}

// A random f64 tensor that requires grad.
inline Tensor rand_input(const Shape& s, Generator& gen, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::rand(s, DType::f64, gen, lo, hi);
  t.set_requires_grad(true);
  return t;
}

// A random f64 tensor kept away from kinks: values with |x - k| < margin for any k in `kinks` are pushed off.
inline Tensor rand_input_avoiding(const Shape& s, Generator& gen, std::vector<double> kinks, double lo = -4,
                                  double hi = 4, double margin = 1e-3) {
  Tensor t = Tensor::rand(s, DType::f64, gen, lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.flat(i);
    for (double k : kinks)
      if (std::abs(v - k) < margin) v = k + (v < k ? -2 * margin : 2 * margin);
    t.set_flat(i, v);
  }
  t.set_requires_grad(true);
  return t;
}

// Largest |a - b| over the elements; NaN as soon as one difference is NaN (std::max would drop it and let a NaN
// result pass a tolerance check).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::abs(a.flat(i) - b.flat(i));
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

// Largest |got - want| / (1 + |want|) against reference values in double.
inline double max_rel_error(const Tensor& got, const std::vector<double>& want) {
  REQUIRE(got.numel() == int64_t(want.size()));
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    worst = std::max(worst, std::abs(got.flat(i) - want[size_t(i)]) / (1.0 + std::abs(want[size_t(i)])));
  return worst;
}

}  // namespace fer::testing
