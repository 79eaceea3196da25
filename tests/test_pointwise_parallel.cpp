// The vectorized, parallel pointwise paths at sizes that engage them: several parallel chunks and Eigen blocks with
// odd remainders, the parallel split of broadcast gradients, and the optimizers' one-region update across many
// parameters. References are the ops' definitions evaluated element by element in double precision here.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fer/fer.hpp"

using namespace fer;

namespace {

constexpr int64_t kOdd = 3 * 16384 + 77;  // 3 parallel chunks of the elementwise grain and a partial block

struct Act {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> f, df;  // value and derivative (PyTorch's at kinks)
};

double gelu_ref(double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }
double sigmoid_ref(double v) { return 1 / (1 + std::exp(-v)); }

const std::vector<Act>& activations() {
  static const std::vector<Act> acts = {
      {"relu", [](const Tensor& t) { return relu(t); }, [](double v) { return v > 0 ? v : 0; },
       [](double v) { return v > 0 ? 1.0 : 0.0; }},
      {"relu6", [](const Tensor& t) { return relu6(t); }, [](double v) { return std::min(std::max(v, 0.0), 6.0); },
       [](double v) { return v > 0 && v < 6 ? 1.0 : 0.0; }},
      {"hardswish", [](const Tensor& t) { return hardswish(t); },
       [](double v) { return v * std::min(std::max(v + 3, 0.0), 6.0) / 6; },
       [](double v) { return v < -3 ? 0.0 : (v <= 3 ? v / 3 + 0.5 : 1.0); }},
      {"hardsigmoid", [](const Tensor& t) { return hardsigmoid(t); },
       [](double v) { return std::min(std::max(v + 3, 0.0), 6.0) / 6; },
       [](double v) { return v > -3 && v < 3 ? 1.0 / 6 : 0.0; }},
      {"gelu", [](const Tensor& t) { return gelu(t); }, gelu_ref,
       [](double v) { return 0.5 * (1 + std::erf(v / std::sqrt(2.0))) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI); }},
      {"silu", [](const Tensor& t) { return silu(t); }, [](double v) { return v * sigmoid_ref(v); },
       [](double v) {
         double s = sigmoid_ref(v);
         return s * (1 + v * (1 - s));
       }},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, sigmoid_ref,
       [](double v) { return sigmoid_ref(v) * (1 - sigmoid_ref(v)); }},
  };
  return acts;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("activations at a multi-chunk size: values and accumulated gradients against their definitions") {
  for (DType dt : {DType::f32, DType::f64}) {
    // f32: the kernels' rounding (and GELU's f32 erf, within 1.5e-6 absolute); f64: exact formulas.
    const double tol = dt == DType::f32 ? 4e-6 : 1e-12;
    for (const Act& a : activations()) {
      CAPTURE(a.name);
      CAPTURE(dtype_name(dt));
      Generator gen(5);
      Tensor x = Tensor::rand({kOdd}, dt, gen, -7, 9);  // both sides of every kink, saturated ranges too
      x.set_requires_grad(true);
      Tensor gy = Tensor::rand({kOdd}, dt, gen, -1, 1);
      Tensor y = a.op(x);
      backward(y, gy);
      backward(a.op(x), gy);  // a second backward accumulates: the gradient doubles
      std::vector<double> xv = x.to_vector(), yv = y.to_vector(), gyv = gy.to_vector(), gxv = x.grad().to_vector();
      std::vector<double> want_y(xv.size()), want_gx(xv.size());
      for (size_t i = 0; i < xv.size(); ++i) {
        want_y[i] = a.f(xv[i]);
        want_gx[i] = 2 * gyv[i] * a.df(xv[i]);
      }
      CHECK(max_abs_diff(yv, want_y) <= tol * 9);  // |y| up to 9
      CHECK(max_abs_diff(gxv, want_gx) <= tol * 4);
    }
  }
}

TEST_CASE("binary ops at a multi-chunk size: same shape and broadcast gradients against element-wise sums") {
  const Shape out{8, 16, 16, 64};
  struct Case {
    const char* name;
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {"same shape", out, out},
      {"per-sample gate [N,1,1,C]", out, {8, 1, 1, 64}},
      {"bias [C]", {64}, out},
      {"spatial map [1,H,W,1]", out, {1, 16, 16, 1}},
      {"per-pixel scalar [N,H,W,1] (inner stride 0)", {8, 16, 16, 1}, out},
  };
  using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);
  const std::vector<std::pair<const char*, BinaryFn>> ops = {
      {"add", [](const Tensor& p, const Tensor& q) { return add(p, q); }},
      {"sub", [](const Tensor& p, const Tensor& q) { return sub(p, q); }},
      {"mul", [](const Tensor& p, const Tensor& q) { return mul(p, q); }},
      {"div", [](const Tensor& p, const Tensor& q) { return div(p, q); }}};
  for (const Case& c : cases)
    for (auto [op_name, op] : ops) {
      CAPTURE(c.name);
      CAPTURE(op_name);
      Generator gen(9);
      Tensor a = Tensor::rand(c.a, DType::f64, gen, 0.5, 2), b = Tensor::rand(c.b, DType::f64, gen, 0.5, 2);
      a.set_requires_grad(true);
      b.set_requires_grad(true);
      Tensor y = op(a, b);
      REQUIRE(y.shape() == out);
      Tensor gy = Tensor::rand(out, DType::f64, gen, -1, 1);
      backward(y, gy);
      // Reference: walk the output, index each operand by its broadcast position.
      auto index = [&](const Shape& s, int64_t n, int64_t h, int64_t w, int64_t ch) {
        const int64_t pos[4] = {n, h, w, ch};
        int64_t off = 0, shift = 4 - s.nd;
        for (int d = 0; d < s.nd; ++d) off = off * s[d] + (s[d] == 1 ? 0 : pos[d + shift]);
        return off;
      };
      std::vector<double> av = a.to_vector(), bv = b.to_vector(), gv = gy.to_vector(), yv = y.to_vector();
      std::vector<double> ga(av.size(), 0.0), gb(bv.size(), 0.0);
      double worst_y = 0;
      int64_t o = 0;
      for (int64_t n = 0; n < out[0]; ++n)
        for (int64_t h = 0; h < out[1]; ++h)
          for (int64_t w = 0; w < out[2]; ++w)
            for (int64_t ch = 0; ch < out[3]; ++ch, ++o) {
              const int64_t ia = index(c.a, n, h, w, ch), ib = index(c.b, n, h, w, ch);
              const double p = av[size_t(ia)], q = bv[size_t(ib)], g = gv[size_t(o)];
              const std::string s = op_name;
              const double want = s == "add" ? p + q : s == "sub" ? p - q : s == "mul" ? p * q : p / q;
              worst_y = std::max(worst_y, std::abs(yv[size_t(o)] - want));
              ga[size_t(ia)] += s == "mul" ? g * q : s == "div" ? g / q : g;
              gb[size_t(ib)] += s == "add" ? g : s == "sub" ? -g : s == "mul" ? g * p : -g * p / (q * q);
            }
      CHECK(worst_y <= 1e-14);
      // Broadcast targets sum up to 8*16*16 terms: allow for the summation order.
      CHECK(max_abs_diff(a.grad().to_vector(), ga) <= 1e-10);
      CHECK(max_abs_diff(b.grad().to_vector(), gb) <= 1e-10);
    }
}

TEST_CASE("SGD and Adam/AdamW update many parameters in one region exactly as the per-element formula") {
  const std::vector<int64_t> sizes = {1, 40000, 3, 70001, 513};  // ranges split inside and across parameters
  auto make = [&](uint64_t seed) {
    Generator gen(seed);
    std::vector<Tensor> ps;
    for (int64_t n : sizes) {
      Tensor p = Tensor::rand({n}, DType::f64, gen, -1, 1);
      p.set_requires_grad(true);
      ps.push_back(p);
    }
    return ps;
  };
  auto set_grads = [&](std::vector<Tensor>& ps, int step) {
    for (size_t k = 0; k < ps.size(); ++k) {
      Generator g(100 + 10 * uint64_t(step) + k);
      ps[k].grad_buffer().copy_(Tensor::rand({sizes[k]}, DType::f64, g, -1, 1));
    }
  };
  SUBCASE("SGD: momentum, dampening, weight decay, Nesterov") {
    for (bool nesterov : {false, true}) {
      CAPTURE(nesterov);
      std::vector<Tensor> ps = make(3);
      std::vector<std::vector<double>> p_ref, buf_ref(sizes.size());
      for (auto& p : ps) p_ref.push_back(p.to_vector());
      optim::SgdOptions o;
      o.lr = 0.1;
      o.momentum = 0.9;
      o.dampening = nesterov ? 0.0 : 0.25;
      o.weight_decay = 0.01;
      o.nesterov = nesterov;
      optim::SGD opt(ps, o);
      for (int step = 0; step < 3; ++step) {
        set_grads(ps, step);
        for (size_t k = 0; k < ps.size(); ++k) {
          std::vector<double> g = ps[k].grad().to_vector();
          if (step == 0) buf_ref[k].assign(g.size(), 0.0);
          for (size_t i = 0; i < g.size(); ++i) {
            double d = g[i] + o.weight_decay * p_ref[k][i];
            buf_ref[k][i] = step == 0 ? d : buf_ref[k][i] * o.momentum + (1 - o.dampening) * d;
            d = nesterov ? d + o.momentum * buf_ref[k][i] : buf_ref[k][i];
            p_ref[k][i] -= o.lr * d;
          }
        }
        opt.step();
      }
      for (size_t k = 0; k < ps.size(); ++k) CHECK(max_abs_diff(ps[k].to_vector(), p_ref[k]) <= 1e-13);
    }
  }
  SUBCASE("Adam (L2) and AdamW (decoupled), with and without amsgrad") {
    for (bool decoupled : {false, true})
      for (bool amsgrad : {false, true}) {
        CAPTURE(decoupled);
        CAPTURE(amsgrad);
        std::vector<Tensor> ps = make(4);
        std::vector<std::vector<double>> p_ref, m(sizes.size()), v(sizes.size()), vmax(sizes.size());
        for (size_t k = 0; k < ps.size(); ++k) {
          p_ref.push_back(ps[k].to_vector());
          m[k].assign(size_t(sizes[k]), 0.0), v[k] = m[k], vmax[k] = m[k];
        }
        optim::AdamOptions o;
        o.lr = 0.01;
        o.weight_decay = 0.05;
        o.amsgrad = amsgrad;
        std::unique_ptr<optim::Optimizer> opt;
        if (decoupled) opt = std::make_unique<optim::AdamW>(ps, o);
        else opt = std::make_unique<optim::Adam>(ps, o);
        for (int step = 1; step <= 3; ++step) {
          set_grads(ps, step);
          const double bc1 = 1 - std::pow(o.beta1, step), bc2 = std::sqrt(1 - std::pow(o.beta2, step));
          for (size_t k = 0; k < ps.size(); ++k) {
            std::vector<double> g = ps[k].grad().to_vector();
            for (size_t i = 0; i < g.size(); ++i) {
              double& p = p_ref[k][i];
              double gi = g[i];
              if (decoupled) p *= 1 - o.lr * o.weight_decay;
              else gi += o.weight_decay * p;
              m[k][i] = m[k][i] * o.beta1 + (1 - o.beta1) * gi;
              v[k][i] = v[k][i] * o.beta2 + (1 - o.beta2) * gi * gi;
              vmax[k][i] = std::max(vmax[k][i], v[k][i]);
              const double second = amsgrad ? vmax[k][i] : v[k][i];
              p -= o.lr / bc1 * (m[k][i] / (std::sqrt(second) / bc2 + o.eps));
            }
          }
          opt->step();
        }
        for (size_t k = 0; k < ps.size(); ++k) CHECK(max_abs_diff(ps[k].to_vector(), p_ref[k]) <= 1e-13);
      }
  }
}
