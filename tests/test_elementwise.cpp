// Pointwise ops: forward values against closed forms, gradient checks, broadcasting, reductions.
#include <doctest/doctest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::rand_input;
using fer::testing::rand_input_avoiding;

TEST_CASE("activation forward values match their definitions") {
  Tensor x = Tensor::from_vector<float>({-4.f, -3.f, -1.f, -0.5f, 0.f, 0.5f, 1.f, 3.f, 6.5f}, {9});
  auto check = [&](const Tensor& y, auto ref) {
    for (int64_t i = 0; i < x.numel(); ++i) CHECK(y.flat(i) == doctest::Approx(ref(x.flat(i))).epsilon(1e-6));
  };
  check(relu(x), [](double v) { return v > 0 ? v : 0; });
  check(relu6(x), [](double v) { return std::min(std::max(v, 0.0), 6.0); });
  check(leaky_relu(x, 0.2), [](double v) { return v > 0 ? v : 0.2 * v; });
  check(gelu(x), [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  check(silu(x), [](double v) { return v / (1 + std::exp(-v)); });
  check(hardswish(x), [](double v) { return v * std::min(std::max(v + 3, 0.0), 6.0) / 6; });
  check(hardsigmoid(x), [](double v) { return std::min(std::max(v + 3, 0.0), 6.0) / 6; });
  check(sigmoid(x), [](double v) { return 1 / (1 + std::exp(-v)); });
  check(tanh(x), [](double v) { return std::tanh(v); });
  // Known values: GELU(1) = 0.8413447460685429, SiLU(1) = 0.7310585786300049.
  CHECK(gelu(x).flat(6) == doctest::Approx(0.8413447460685429).epsilon(1e-6));
  CHECK(silu(x).flat(6) == doctest::Approx(0.7310585786300049).epsilon(1e-6));
}

namespace {

// Distance in units in the last place between two finite floats (or equal infinities) of any sign.
int64_t ulps_apart(float a, float b) {
  auto ordered = [](float f) {
    const int32_t i = std::bit_cast<int32_t>(f);
    return i < 0 ? -int64_t(i & 0x7fffffff) : int64_t(i);
  };
  return std::llabs(ordered(a) - ordered(b));
}

// A dense sweep of [-110, 95] (past both ends of exp's finite range), the specials, and the range boundaries.
std::vector<float> exp_test_inputs() {
  std::vector<float> v;
  for (int i = 0; i <= 205000; ++i) v.push_back(-110.0f + 0.001f * float(i) + 1e-5f * float(i % 7));
  for (float f : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MIN, -FLT_MIN, FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MAX,
                  -FLT_MAX, 88.7228394f, 88.7228470f, -87.3365479f, -103.972084f, -103.972076f, 1e-8f, -1e-8f})
    v.push_back(f);
  return v;
}

}  // namespace

// f32 exp / SiLU / sigmoid run on kernels/cpu/exp_f32.hpp's branch-free exp inside vectorized loops (f64 keeps the
// C library's). Against f64: exp within 1 ulp of the correctly rounded value; SiLU and sigmoid within 3e-7 relative
// (2.5 ulp: exp's ulp, the 1 + e and the division), or 1e-36 absolute where the result underflows; sigmoid's
// gradient within 5e-7 absolute, SiLU's within 2e-7 (1 + |x|). Lengths 1-19 and one past a parallel chunk put each
// value in the vector body and in the scalar tail: a value must not depend on where it sits.
TEST_CASE("f32 exp, SiLU, sigmoid and their gradients: vectorized kernels against f64") {
  const std::vector<float> all = exp_test_inputs();
  const Shape shape{int64_t(all.size())};
  std::vector<double> e, si, sg;
  {
    InferenceGuard guard;
    Tensor x = Tensor::from_vector<float>(all, shape);
    e = fer::exp(x).to_vector(), si = silu(x).to_vector(), sg = sigmoid(x).to_vector();
  }
  auto gradient = [&](Tensor (*f)(const Tensor&)) {
    Tensor x = Tensor::from_vector<float>(all, shape);
    x.set_requires_grad(true);
    backward(sum(f(x)));
    return x.grad().to_vector();
  };
  const std::vector<double> dsilu = gradient(silu), dsigmoid = gradient(sigmoid);
  int64_t worst_ulp = 0;
  double worst_silu = 0, worst_sigmoid = 0, worst_dsilu = 0, worst_dsigmoid = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    const double v = all[i];
    CAPTURE(v);
    const auto got = [&](const std::vector<double>& t) { return float(t[i]); };
    if (std::isnan(v)) {
      CHECK(std::isnan(got(e)));
      CHECK(std::isnan(got(si)));
      CHECK(std::isnan(got(sg)));
      continue;
    }
    const double ex = std::exp(v), s = std::isinf(v) ? (v > 0 ? 1.0 : 0.0) : 1 / (1 + std::exp(-v));
    const int64_t d = ulps_apart(got(e), float(ex));
    worst_ulp = std::max(worst_ulp, d);
    CHECK(d <= 1);
    if (std::isinf(v)) continue;  // silu(+-inf) = +-inf * s and the gradients are NaN in any precision
    auto rel = [](double a, double b, double floor) { return std::abs(a - b) / std::max(std::abs(b), floor); };
    const double e_silu = rel(got(si), v * s, 1e-36 / 3e-7), e_sigmoid = rel(got(sg), s, 1e-36 / 3e-7);
    // SiLU's gradient s (1 + x (1 - s)) carries s's rounding times |x|: its error is measured relative to 1 + |x|.
    const double ds = s * (1 + v * (1 - s)), e_dsilu = std::abs(got(dsilu) - ds) / (1 + std::abs(v));
    const double e_dsigmoid = std::abs(got(dsigmoid) - s * (1 - s));
    CHECK(e_silu <= 3e-7);
    CHECK(e_sigmoid <= 3e-7);
    CHECK(e_dsilu <= 2e-7);
    CHECK(e_dsigmoid <= 5e-7);
    worst_silu = std::max(worst_silu, e_silu), worst_sigmoid = std::max(worst_sigmoid, e_sigmoid);
    worst_dsilu = std::max(worst_dsilu, e_dsilu), worst_dsigmoid = std::max(worst_dsigmoid, e_dsigmoid);
  }
  MESSAGE("exp ", worst_ulp, " ulp; silu ", worst_silu, ", sigmoid ", worst_sigmoid, " relative; gradient of silu ",
          worst_dsilu, " (per 1 + |x|), of sigmoid ", worst_dsigmoid, " absolute");
  CHECK(fer::exp(Tensor::from_vector<float>({0.0f, -0.0f}, {2})).to_vector() == std::vector<double>{1.0, 1.0});

  // Position independence: the same values at every offset into tensors of lengths 1-19 and 65541 (> one chunk).
  for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 65541}) {
    CAPTURE(n);
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) v[size_t(k)] = all[size_t((k * 7919) % int64_t(all.size()))];
    Tensor t = Tensor::from_vector<float>(v, {n});
    Tensor es = fer::exp(t), ss = silu(t), gs = sigmoid(t);
    bool same = true;
    for (int64_t k = 0; k < n; ++k) {
      const size_t at = size_t((k * 7919) % int64_t(all.size()));
      auto eq = [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); };
      same = same && eq(es.flat(k), e[at]) && eq(ss.flat(k), si[at]) && eq(gs.flat(k), sg[at]);
    }
    CHECK(same);
  }
}

TEST_CASE("gradcheck: activations and unary math (f64, odd sizes)") {
  Generator gen(7);
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    std::vector<double> kinks;
    double lo, hi;
  };
  std::vector<Case> cases = {
      {"relu", [](const Tensor& t) { return relu(t); }, {0}, -3, 3},
      {"relu6", [](const Tensor& t) { return relu6(t); }, {0, 6}, -2, 8},
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.2); }, {0}, -3, 3},
      {"gelu", [](const Tensor& t) { return gelu(t); }, {}, -4, 4},
      {"silu", [](const Tensor& t) { return silu(t); }, {}, -6, 6},
      {"hardswish", [](const Tensor& t) { return hardswish(t); }, {-3, 3}, -5, 5},
      {"hardsigmoid", [](const Tensor& t) { return hardsigmoid(t); }, {-3, 3}, -5, 5},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, {}, -6, 6},
      {"tanh", [](const Tensor& t) { return fer::tanh(t); }, {}, -3, 3},
      {"exp", [](const Tensor& t) { return fer::exp(t); }, {}, -2, 2},
      {"log", [](const Tensor& t) { return fer::log(t); }, {}, 0.2, 3},
      {"sqrt", [](const Tensor& t) { return fer::sqrt(t); }, {}, 0.2, 3},
      {"rsqrt", [](const Tensor& t) { return rsqrt(t); }, {}, 0.2, 3},
      {"square", [](const Tensor& t) { return square(t); }, {}, -2, 2},
      {"neg", [](const Tensor& t) { return neg(t); }, {}, -2, 2},
      {"abs", [](const Tensor& t) { return fer::abs(t); }, {0}, -2, 2},
      {"affine", [](const Tensor& t) { return affine(t, -1.7, 0.3); }, {}, -2, 2},
  };
  for (auto& c : cases) {
    CAPTURE(c.name);
    Tensor x = rand_input_avoiding({3, 5, 7}, gen, c.kinks, c.lo, c.hi);
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return c.f(in[0]); }, {x}) <= 1.0);
  }
}

TEST_CASE("activation derivatives at kinks follow PyTorch") {
  Tensor x = Tensor::from_vector<double>({0.0, 6.0, -3.0, 3.0}, {4});
  x.set_requires_grad(true);
  backward(sum(relu(x)));
  CHECK(x.grad().flat(0) == 0.0);  // relu'(0) = 0
  x.drop_grad();
  backward(sum(relu6(x)));
  CHECK(x.grad().flat(1) == 0.0);  // relu6'(6) = 0
  x.drop_grad();
  backward(sum(hardswish(x)));
  CHECK(x.grad().flat(2) == doctest::Approx(-0.5));  // x/3 + 1/2 at -3
  CHECK(x.grad().flat(3) == doctest::Approx(1.5));   // x/3 + 1/2 at 3
}

TEST_CASE("broadcasting binary ops: values and gradients") {
  Generator gen(11);
  // NHWC activation times per-(N, C) gate: the squeeze-excitation pattern.
  Tensor a = rand_input({2, 3, 5, 4}, gen);
  Tensor se = rand_input({2, 1, 1, 4}, gen);
  Tensor bias = rand_input({4}, gen);
  Tensor den = rand_input({1, 5, 1}, gen, 0.5, 2.0);
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[1]; }, {a, se}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return in[0] + in[1]; }, {a, bias}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return in[0] - in[1]; }, {bias, a}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return in[0] / in[1]; }, {a, den}) <= 1.0);

  Tensor y = a * se;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t w = 0; w < 5; ++w)
        for (int64_t c = 0; c < 4; ++c) CHECK(y.at(n, h, w, c) == doctest::Approx(a.at(n, h, w, c) * se.at(n, 0, 0, c)));
  CHECK_THROWS_WITH_AS(add(Tensor::zeros({2, 3}), Tensor::zeros({4})), doctest::Contains("do not broadcast"), Error);
}

TEST_CASE("sum and mean over dims, keepdim, gradients") {
  Generator gen(3);
  Tensor x = rand_input({3, 4, 5}, gen);
  Tensor s = sum(x, {1});
  REQUIRE(s.shape() == Shape{3, 5});
  double ref = 0;
  for (int j = 0; j < 4; ++j) ref += x.at(2, j, 3);
  CHECK(s.at(2, 3) == doctest::Approx(ref));
  CHECK(mean(x).item() == doctest::Approx(sum(x).item() / 60.0));
  CHECK(mean(x, {0, 2}, true).shape() == Shape{1, 4, 1});
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {0, 2}); }, {x}) <= 1.0);
  CHECK(gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], {-1}, true); }, {x}) <= 1.0);
}

TEST_CASE("autograd: fan-out accumulates, gradient accumulation across backward calls, no-grad") {
  Tensor x = Tensor::from_vector<double>({1.0, 2.0, 3.0}, {3});
  x.set_requires_grad(true);
  Tensor y = x * x + x;  // dy/dx = 2x + 1
  backward(sum(y));
  CHECK(x.grad().to_vector() == std::vector<double>{3.0, 5.0, 7.0});
  backward(sum(x * x + x));  // accumulates
  CHECK(x.grad().to_vector() == std::vector<double>{6.0, 10.0, 14.0});
  x.zero_grad();
  {
    NoGradGuard ng;
    Tensor z = x * x;
    CHECK_FALSE(z.requires_grad());
    CHECK(Tape::current().size() == 0);
  }
  CHECK_THROWS_AS(backward(sum(Tensor::ones({2}))), Error);
}

TEST_CASE("autograd: non-contiguous inputs go through a recorded contiguous copy") {
  Generator gen(5);
  Tensor base = rand_input({4, 6}, gen);
  // A strided view (every other column) built by hand: offset 1, stride 2.
  CHECK(gradcheck(
            [](const std::vector<Tensor>& in) {
              auto impl = std::make_shared<TensorImpl>(*in[0].impl());
              impl->shape = Shape{4, 3};
              impl->strides = Shape{6, 2};
              impl->offset = 1;
              impl->grad.reset();
              impl->is_leaf = false;
              Tensor view(impl);
              // route the gradient back to the base through an explicit recorded gather
              Tensor y = Tensor::empty({4, 3}, DType::f64);
              Tensor src = in[0];
              autograd::apply(
                  "strided_view", {src}, {y}, [=] { y.copy_(view); },
                  [=] {
                    Tensor g = src.grad_buffer();
                    for (int64_t i = 0; i < 4; ++i)
                      for (int64_t j = 0; j < 3; ++j) g.data<double>()[i * 6 + 1 + 2 * j] += y.grad().at(i, j);
                  });
              return gelu(y) * y;
            },
            {base}) <= 1.0);
}

TEST_CASE("Graph: record once, replay in the same buffers with no new allocation") {
  Generator gen(9);
  Tensor w = Tensor::randn({8}, DType::f32, gen);
  w.set_requires_grad(true);
  Tensor x = Tensor::empty({16, 8});  // placeholder
  x.copy_(Tensor::randn({16, 8}, DType::f32, gen));
  Graph g = Graph::capture([&] { return mean(square(silu(x * w))); });
  CHECK(g.num_nodes() >= 4);
  g.backward();
  std::vector<double> first = w.grad().to_vector();

  // Replay with new data: values must equal an eager computation, and the pool must not grow.
  Tensor batch = Tensor::randn({16, 8}, DType::f32, gen);
  x.copy_(batch);
  w.zero_grad();
  g.forward();
  g.backward();  // warm-up replay
  auto before = cpu_allocator().stats();
  w.zero_grad();
  g.forward();
  g.backward();
  auto after = cpu_allocator().stats();
  CHECK(after.system_allocs == before.system_allocs);
  std::vector<double> replayed = w.grad().to_vector();

  w.zero_grad();
  Tensor eager = mean(square(silu(batch * w)));
  backward(eager);
  CHECK(g.output().item() == doctest::Approx(eager.item()).epsilon(1e-6));
  for (size_t i = 0; i < replayed.size(); ++i) CHECK(replayed[i] == doctest::Approx(w.grad().flat(int64_t(i))).epsilon(1e-5));
  CHECK(first != replayed);
}

TEST_CASE("tensor core: dtypes round-trip, views, pool reuse") {
  Tensor x = Tensor::from_vector<float>({1.5f, -2.25f, 65504.f, 1e-7f, 3.14159f}, {5});
  Tensor h = x.to(DType::f16);
  Tensor b = x.to(DType::bf16);
  CHECK(h.dtype() == DType::f16);
  CHECK(h.to(DType::f32).flat(0) == 1.5);
  CHECK(h.to(DType::f32).flat(2) == 65504.0);  // largest finite f16
  CHECK(h.to(DType::f32).flat(3) == doctest::Approx(1.1920928955078125e-07));  // nearest f16 subnormal
  CHECK(b.to(DType::f32).flat(4) == doctest::Approx(3.140625));  // bf16 keeps 8 mantissa bits
  CHECK(Tensor::from_vector<int64_t>({7, 8}, {2}).to(DType::i32).flat(1) == 8);
  CHECK(Tensor::from_vector<uint8_t>({255, 0}, {2}).to(DType::f64).flat(0) == 255);
  CHECK(to_f16(70000.f).bits == 0x7c00);  // overflow rounds to +inf
  CHECK(std::isnan(from_bf16(to_bf16(NAN))));

  Tensor m = Tensor::from_vector<double>({0, 1, 2, 3, 4, 5}, {2, 3});
  CHECK(m.view_as_shape({3, 2}).at(2, 1) == 5);
  CHECK_THROWS_AS(m.view_as_shape({4, 2}), Error);
  CHECK_THROWS_WITH_AS(m.at(2, 0), doctest::Contains("out of range"), Error);

  cpu_allocator().empty_cache();
  { Tensor t = Tensor::empty({2000}); }
  auto s1 = cpu_allocator().stats();
  { Tensor t = Tensor::empty({1990}); }  // same size class (8 KiB): served from the cache
  auto s2 = cpu_allocator().stats();
  CHECK(s2.system_allocs == s1.system_allocs);
  CHECK(pool_size_class(1000 * 4) == 4032);
  CHECK(pool_size_class(5000) >= 5000);
}

TEST_CASE("devices: CUDA requests fail clearly without a GPU") {
  if (built_with_cuda() && cuda_device_available()) {
    MESSAGE("CUDA device present: device-copy round trip");
    Tensor x = Tensor::randn({3, 4});
    Tensor back = x.to(Device::cuda()).to(Device::cpu());
    CHECK(fer::testing::max_abs_diff(x, back) == 0.0);
  } else {
    MESSAGE("no CUDA device: checking the error path");
    CHECK_THROWS_AS(Tensor::empty({2}, DType::f32, Device::cuda()), Error);
  }
}
