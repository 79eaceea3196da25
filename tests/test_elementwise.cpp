// Pointwise ops: forward values against closed forms, gradient checks, broadcasting, reductions.
#include <doctest/doctest.h>

#include <cmath>

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
