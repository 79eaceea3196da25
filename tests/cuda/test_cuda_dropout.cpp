// CUDA dropout and stochastic depth: masks drawn on the device from one generator draw per forward. Checks the keep
// rate (statistically), the survivors' scale 1/(1-p), that backward uses the forward's mask, p = 0 and p = 1, eval
// as identity, that the generator state determines the mask (same state, same mask; next call, new mask), that a
// replayed captured step draws a fresh mask, and stochastic depth's whole-row and whole-tensor drops.
#include <cmath>
#include <vector>

#include "cuda/cuda_parity.hpp"

#include "fer/ops/dropout.hpp"
#include "fer/ops/elementwise.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_dropout {

using namespace fer;
using namespace fer::cuda_test;

static Device dev() { return fer::cuda_test::cuda0(); }

namespace {

// Host copies in f64.
std::vector<double> values(const Tensor& t) { return t.host().to(DType::f64).to_vector(); }

}  // namespace

TEST_CASE("dropout: keep rate, scale, and backward through the same mask, every dtype") {
  for (DType dt : {DType::f64, DType::f32, DType::f16, DType::bf16}) {
    INFO(dtype_name(dt));
    const double p = 0.3;
    const int64_t n = 1 << 18;
    Generator g(1), gen(2);
    Tensor x = random_cpu({n / 512, 512}, g, 0.5, 1.5, dt).to(dev());
    x.set_requires_grad();
    Tensor y = dropout(x, p, true, gen);
    REQUIRE(y.device() == dev());
    Tensor up = random_cpu({n / 512, 512}, g, 0.5, 1.5, dt);
    backward(y, up.to(dev()));
    const std::vector<double> xv = values(x), yv = values(y), gv = values(x.grad()), uv = values(up);
    const double scale = 1.0 / (1.0 - p);
    const double tol = dt == DType::f64 ? 1e-15 : dt == DType::f32 ? 1e-6 : dt == DType::f16 ? 2e-3 : 1e-2;
    int64_t kept = 0;
    bool scaled = true, grads = true;
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = yv[size_t(i)] != 0.0;
      kept += keep;
      // Survivors are x / (1 - p); the gradient is gy / (1 - p) exactly where the element survived, 0 elsewhere.
      if (keep) scaled = scaled && std::abs(yv[size_t(i)] - xv[size_t(i)] * scale) <= tol * xv[size_t(i)] * scale;
      const double want = keep ? uv[size_t(i)] * scale : 0.0;
      grads = grads && std::abs(gv[size_t(i)] - want) <= tol * std::abs(uv[size_t(i)]) * scale;
    }
    CHECK(scaled);
    CHECK(grads);
    // Binomial(n, 0.7): 6 standard deviations.
    const double mean = double(n) * (1 - p), sd = std::sqrt(double(n) * p * (1 - p));
    CHECK(std::abs(double(kept) - mean) <= 6 * sd);
  }
}

TEST_CASE("dropout: p = 0 and eval are identity, p = 1 zeroes everything (and its gradient)") {
  Generator g(3), gen(4);
  Tensor x = random_cpu({7, 33}, g).to(dev());
  CHECK(dropout(x, 0.0, true, gen).same(x));
  CHECK(dropout(x, 0.5, false, gen).same(x));
  CHECK(stochastic_depth(x, 0.5, true, false, gen).same(x));
  x.set_requires_grad();
  Tensor y = dropout(x, 1.0, true, gen);
  backward(y, random_cpu({7, 33}, g).to(dev()));
  for (double v : values(y)) CHECK(v == 0.0);
  for (double v : values(x.grad())) CHECK(v == 0.0);
}

TEST_CASE("dropout: the generator state determines the mask; one draw per call") {
  Generator g(5);
  Tensor x = random_cpu({1000}, g, 0.5, 1.5).to(dev());
  Generator a(42), b(42);
  Tensor y1 = dropout(x, 0.5, true, a);
  Tensor y2 = dropout(x, 0.5, true, b);
  CHECK(rel_l2(y1, y2) == 0.0);  // same state, same mask
  Generator c(42);
  c.next_u64();
  CHECK(a.state() == c.state());  // exactly one 64-bit draw
  Tensor y3 = dropout(x, 0.5, true, a);
  CHECK(rel_l2(y3, y1) > 0.0);  // the next call draws a new mask
}

TEST_CASE("dropout: a replayed captured step draws a fresh mask") {
  Generator g(6), gen(7);
  Tensor x = random_cpu({4096}, g, 0.5, 1.5).to(dev());
  Graph graph = Graph::capture([&] { return dropout(x, 0.5, true, gen); });
  const std::vector<double> first = values(graph.output());
  graph.forward();
  const std::vector<double> second = values(graph.output());
  int64_t differ = 0;
  for (size_t i = 0; i < first.size(); ++i) differ += (first[i] == 0.0) != (second[i] == 0.0);
  CHECK(differ > 0);
}

TEST_CASE("stochastic depth: row mode drops whole samples, batch mode the whole tensor") {
  Generator g(8), gen(9);
  const double p = 0.4, scale = 1.0 / (1.0 - p);
  for (DType dt : {DType::f64, DType::f32, DType::f16, DType::bf16}) {
    INFO(dtype_name(dt));
    const double tol = dt == DType::f64 ? 1e-15 : dt == DType::f32 ? 1e-6 : dt == DType::f16 ? 2e-3 : 1e-2;
    Tensor x = random_cpu({301, 3, 5}, g, 0.5, 1.5, dt).to(dev());
    x.set_requires_grad();
    Tensor y = stochastic_depth(x, p, true, true, gen);
    Tensor up = Tensor::full({301, 3, 5}, 1.0, dt);
    backward(y, up.to(dev()));
    const std::vector<double> xv = values(x), yv = values(y), gv = values(x.grad());
    int64_t kept_rows = 0;
    bool whole = true;
    for (int64_t r = 0; r < 301; ++r) {
      const bool keep = yv[size_t(r * 15)] != 0.0;
      kept_rows += keep;
      for (int64_t k = 0; k < 15; ++k) {
        const size_t i = size_t(r * 15 + k);
        const double want = keep ? xv[i] * scale : 0.0, want_g = keep ? scale : 0.0;
        whole = whole && std::abs(yv[i] - want) <= tol * 2 && std::abs(gv[i] - want_g) <= tol * 2;
      }
    }
    CHECK(whole);
    CHECK(kept_rows > 0);
    CHECK(kept_rows < 301);
    Tensor z = stochastic_depth(x.detach(), p, false, true, gen);
    const std::vector<double> zv = values(z);
    const bool all_zero = zv[0] == 0.0;
    bool uniform = true;
    for (size_t i = 0; i < zv.size(); ++i) uniform = uniform && ((zv[i] == 0.0) == all_zero);
    CHECK(uniform);
  }
}

}  // namespace test_cuda_dropout
