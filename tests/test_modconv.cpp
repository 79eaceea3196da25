// Modulated convolution: modulate_weights and modulated_conv2d against torch references
// (tests/data/sg2ops/modconv.json from tools/make_sg2_op_fixtures.py: NVIDIA's grouped form, the up-2 path
// as conv_transpose2d + filter), an independent formulation, gradient checks, noise, argument errors.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "fer/ops/bias_act.hpp"
#include "fer/ops/conv.hpp"
#include "fer/ops/linear.hpp"
#include "fer/ops/modconv.hpp"
#include "gradcheck.hpp"
#include "sg2_fixture.hpp"

using namespace fer;
using fer::testing::fixture_cotangent;
using fer::testing::fixture_tensor;
using fer::testing::gradcheck;
using fer::testing::rand_input;
using fer::testing::rel_error;

TEST_CASE("modulate_weights: closed-form values") {
  // One output channel, 1x1 kernel, two inputs: w = [3, 4], s = [1, 2] -> W' = [3, 8], |W'| = sqrt(73).
  Tensor w = Tensor::from_vector<double>({3, 4}, {1, 1, 1, 2});
  Tensor s = Tensor::from_vector<double>({1, 2, 0.5, 0}, {2, 2});
  Tensor y = modulate_weights(w, s, false);
  REQUIRE(y.shape() == Shape{2, 1, 1, 1, 2});
  CHECK(y.to_vector() == std::vector<double>{3, 8, 1.5, 0});
  Tensor d = modulate_weights(w, s, true);
  CHECK(d.flat(0) == doctest::Approx(3 / std::sqrt(73.0 + 1e-8)).epsilon(1e-12));
  CHECK(d.flat(1) == doctest::Approx(8 / std::sqrt(73.0 + 1e-8)).epsilon(1e-12));
  CHECK(d.flat(2) == doctest::Approx(1.5 / std::sqrt(2.25 + 1e-8)).epsilon(1e-14));
}

TEST_CASE("modulate_weights matches the torch reference (f32 and f64, values and gradients)") {
  auto cases = fer::testing::load_sg2_fixture("modconv.json").at("modulate_weights");
  REQUIRE(cases.size() >= 3);
  for (const auto& c : cases) {
    CAPTURE(c.at("name").get<std::string>());
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dt));
      const double tol = dt == DType::f32 ? 1e-5 : 1e-9;
      Tensor w = fixture_tensor(c["w"], dt).set_requires_grad(true);
      Tensor s = fixture_tensor(c["styles"], dt).set_requires_grad(true);
      Tensor y = modulate_weights(w, s, c["demodulate"].get<bool>());
      CHECK(rel_error(y, fixture_tensor(c["y"], dt)) < tol);
      backward(y, fixture_cotangent(y.shape(), dt));
      CHECK(rel_error(w.grad(), fixture_tensor(c["grad_w"], dt)) < tol);
      CHECK(rel_error(s.grad(), fixture_tensor(c["grad_styles"], dt)) < tol);
    }
  }
}

TEST_CASE("modulated_conv2d matches the torch reference (up 1/2, flips, 1x1, noise; f32 and f64)") {
  auto cases = fer::testing::load_sg2_fixture("modconv.json").at("modulated_conv2d");
  REQUIRE(cases.size() >= 9);
  for (const auto& c : cases) {
    CAPTURE(c.at("name").get<std::string>());
    ModConvParams p;
    p.demodulate = c["demodulate"];
    p.padding = c["padding"];
    p.up = c["up"];
    p.flip_weight = c["flip_weight"].get<bool>();
    for (DType dt : {DType::f32, DType::f64}) {
      CAPTURE(dtype_name(dt));
      const double tol = dt == DType::f32 ? 1e-5 : 1e-9;
      Tensor x = fixture_tensor(c["x"], dt).set_requires_grad(true);
      Tensor w = fixture_tensor(c["w"], dt).set_requires_grad(true);
      Tensor s = fixture_tensor(c["styles"], dt).set_requires_grad(true);
      Tensor noise = c.contains("noise") ? fixture_tensor(c["noise"], dt) : Tensor();
      Tensor y = modulated_conv2d(x, w, s, p, noise);
      CHECK(rel_error(y, fixture_tensor(c["y"], dt)) < tol);
      backward(y, fixture_cotangent(y.shape(), dt));
      CHECK(rel_error(x.grad(), fixture_tensor(c["grad_x"], dt)) < tol);
      CHECK(rel_error(w.grad(), fixture_tensor(c["grad_w"], dt)) < tol);
      CHECK(rel_error(s.grad(), fixture_tensor(c["grad_styles"], dt)) < tol);
    }
  }
}

TEST_CASE("modulated_conv2d: the generator's defaults give 2x outputs; flip_weight defaults to (up == 1)") {
  Generator gen(3);
  Tensor x = Tensor::randn({2, 5, 4, 3}, DType::f64, gen);
  Tensor w = Tensor::randn({4, 3, 3, 3}, DType::f64, gen);
  Tensor s = Tensor::rand({2, 3}, DType::f64, gen, 0.5, 1.5);
  ModConvParams p;
  p.padding = 1;
  p.up = 2;
  Tensor y = modulated_conv2d(x, w, s, p);
  CHECK(y.shape() == Shape{2, 10, 8, 4});
  p.flip_weight = false;
  CHECK(rel_error(modulated_conv2d(x, w, s, p), y) == 0.0);
  p.flip_weight = true;
  CHECK(rel_error(modulated_conv2d(x, w, s, p), y) > 1e-3);
  p.up = 1;
  p.flip_weight.reset();
  Tensor y1 = modulated_conv2d(x, w, s, p);
  CHECK(y1.shape() == Shape{2, 5, 4, 4});
  p.flip_weight = true;
  CHECK(rel_error(modulated_conv2d(x, w, s, p), y1) == 0.0);
}

TEST_CASE("modulated_conv2d equals 'scale inputs by styles, shared conv, scale outputs by demod coefficients'") {
  // The non-fused form NVIDIA uses in training, built here from conv2d and broadcasting ops.
  Generator gen(17);
  const int64_t N = 3, H = 6, W = 5, I = 4, O = 3;
  Tensor x = Tensor::randn({N, H, W, I}, DType::f64, gen);
  Tensor w = Tensor::randn({O, 3, 3, I}, DType::f64, gen);
  Tensor s = Tensor::rand({N, I}, DType::f64, gen, 0.3, 1.7);
  ModConvParams p;
  p.padding = 1;
  Tensor fused = modulated_conv2d(x, w, s, p);
  Tensor xs = mul(x, s.view_as_shape({N, 1, 1, I}));
  Tensor shared = conv2d(xs, w, Tensor(), Conv2dParams::make(1, 1));
  Tensor dco = Tensor::empty({N, 1, 1, O}, DType::f64);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double ss = 0;
      for (int64_t k = 0; k < 9; ++k)
        for (int64_t i = 0; i < I; ++i) ss += std::pow(w.flat((o * 9 + k) * I + i) * s.flat(n * I + i), 2);
      dco.set_flat(n * O + o, 1 / std::sqrt(ss + 1e-8));
    }
  CHECK(rel_error(fused, mul(shared, dco)) < 1e-12);
}

TEST_CASE("gradcheck: modulate_weights (f64)") {
  Generator gen(21);
  for (bool demod : {true, false}) {
    CAPTURE(demod);
    Tensor w = rand_input({3, 2, 3, 2}, gen);
    Tensor s = rand_input({2, 2}, gen, 0.3, 1.5);
    CHECK(gradcheck([&](const std::vector<Tensor>& in) { return modulate_weights(in[0], in[1], demod); }, {w, s}) <=
          1.0);
  }
}

TEST_CASE("gradcheck: modulated_conv2d, up 1 and 2, flips, 1x1, noise (f64, odd sizes)") {
  Generator gen(23);
  struct Case {
    int64_t n, h, w, i, o, k, padding, up;
    bool demod, flip, noise;
  };
  std::vector<Case> cases = {
      {2, 3, 4, 2, 2, 3, 1, 1, true, true, false},    // conv1
      {2, 3, 3, 2, 2, 3, 1, 2, true, false, false},   // conv0 (up 2), the generator's flip
      {1, 3, 2, 2, 3, 3, 1, 2, true, true, false},    // up 2, rotated kernel
      {2, 3, 3, 3, 1, 1, 0, 1, false, true, false},   // toRGB
      {1, 2, 3, 2, 2, 1, 0, 2, false, false, false},  // 1x1 up 2
      {2, 3, 3, 2, 2, 3, 0, 1, true, false, true},    // rotated, unpadded, noise
      {2, 2, 3, 2, 2, 3, 1, 2, true, false, true},    // up 2 with per-sample noise
  };
  for (const Case& c : cases) {
    CAPTURE(c.k);
    CAPTURE(c.up);
    CAPTURE(c.flip);
    ModConvParams p;
    p.demodulate = c.demod;
    p.padding = c.padding;
    p.up = c.up;
    p.flip_weight = c.flip;
    Tensor x = rand_input({c.n, c.h, c.w, c.i}, gen);
    Tensor w = rand_input({c.o, c.k, c.k, c.i}, gen);
    Tensor s = rand_input({c.n, c.i}, gen, 0.3, 1.5);
    std::vector<Tensor> inputs = {x, w, s};
    if (c.noise) {
      const int64_t oh = c.h * c.up + 2 * c.padding - c.k + 1, ow = c.w * c.up + 2 * c.padding - c.k + 1;
      inputs.push_back(rand_input({c.n, oh, ow, 1}, gen));
    }
    auto f = [&](const std::vector<Tensor>& in) {
      return modulated_conv2d(in[0], in[1], in[2], p, in.size() > 3 ? in[3] : Tensor());
    };
    CHECK(gradcheck(f, inputs) <= 1.0);
  }
}

TEST_CASE("add_noise: values and gradients w.r.t. x, noise and strength") {
  Tensor x = Tensor::zeros({2, 2, 1, 3});
  Tensor noise = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2, 1, 1});
  Tensor strength = Tensor::full(Shape{}, 0.5);
  Tensor y = add_noise(x, noise, strength);
  REQUIRE(y.shape() == Shape{2, 2, 1, 3});
  CHECK(y.at(1, 0, 0, 2) == doctest::Approx(1.5));
  CHECK(y.at(0, 1, 0, 0) == doctest::Approx(1.0));

  Generator gen(31);
  for (Shape ss : {Shape{}, Shape{1}}) {
    for (int64_t nb : {int64_t(1), int64_t(2)}) {
      Tensor xi = rand_input({2, 3, 2, 3}, gen);
      Tensor ni = rand_input({nb, 3, 2, 1}, gen);
      Tensor si = rand_input(ss, gen);
      CHECK(gradcheck([](const std::vector<Tensor>& in) { return add_noise(in[0], in[1], in[2]); }, {xi, ni, si}) <=
            1.0);
    }
  }
}

TEST_CASE("modulated_conv2d and friends reject bad arguments") {
  Tensor x = Tensor::zeros({2, 4, 4, 3});
  Tensor w = Tensor::zeros({5, 3, 3, 3});
  Tensor s = Tensor::ones({2, 3});
  CHECK_THROWS_AS(modulate_weights(w, Tensor::ones({2, 4})), Error);              // styles width != I
  CHECK_THROWS_AS(modulate_weights(Tensor::zeros({5, 3, 3}), s), Error);          // weight not 4-d
  CHECK_THROWS_AS(modulate_weights(w, Tensor::ones({2, 3}, DType::f64)), Error);  // dtype mismatch
  CHECK_THROWS_AS(modulated_conv2d(Tensor::zeros({3, 4, 4, 3}), w, s), Error);    // batch != styles rows
  CHECK_THROWS_AS(modulated_conv2d(Tensor::zeros({2, 4, 4, 2}), w, s), Error);    // channels != I
  ModConvParams p;
  p.up = 0;
  CHECK_THROWS_AS(modulated_conv2d(x, w, s, p), Error);
  p.up = 1;
  p.padding = 1;
  CHECK_THROWS_AS(modulated_conv2d(x, w, s, p, Tensor::zeros({2, 4, 4, 2})), Error);  // noise with 2 channels
  CHECK_THROWS_AS(modulated_conv2d(x, w, s, p, Tensor::zeros({2, 3, 4, 1})), Error);  // noise of the wrong size
  p.up = 2;
  p.resample_filter = Tensor::ones({4});
  CHECK_THROWS_AS(modulated_conv2d(x, w, s, p), Error);                                  // 1-d filter
  CHECK_THROWS_AS(add_noise(x, Tensor::zeros({2, 4, 4, 1}), Tensor::ones({2})), Error);  // strength not a scalar
  CHECK_THROWS_AS(add_noise(x, Tensor::zeros({2, 4, 4, 3}), Tensor::ones({1})), Error);  // noise not [.., 1]
}

namespace {

// The F32 tensors of a safetensors file (test-only reader: header length, JSON header, raw little-endian data).
std::map<std::string, Tensor> read_f32_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  std::string blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(blob.size() >= 8);
  uint64_t n = 0;
  std::memcpy(&n, blob.data(), 8);
  REQUIRE(n <= blob.size() - 8);
  auto header = nlohmann::json::parse(blob.substr(8, n));
  std::map<std::string, Tensor> out;
  for (auto& [name, meta] : header.items()) {
    if (name == "__metadata__") continue;
    REQUIRE(meta.at("dtype") == "F32");
    Shape s;
    for (const auto& d : meta.at("shape")) s.push_back(d.get<int64_t>());
    const uint64_t a = meta.at("data_offsets")[0], b = meta.at("data_offsets")[1];
    REQUIRE((a <= b && b <= blob.size() - 8 - n && b - a == uint64_t(s.numel()) * 4));
    Tensor t = Tensor::empty(s, DType::f32);
    std::memcpy(t.raw_data(), blob.data() + 8 + n + a, b - a);
    out[name] = t;
  }
  return out;
}

// [O, I, kh, kw] (PyTorch) -> [O, kh, kw, I].
Tensor oihw_to_ohwi(const Tensor& w) {
  const int64_t O = w.size(0), I = w.size(1), kh = w.size(2), kw = w.size(3);
  Tensor r = Tensor::empty({O, kh, kw, I}, w.dtype());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x)
          r.set_flat(((o * kh + y) * kw + x) * I + i, w.flat(((o * I + i) * kh + y) * kw + x));
  return r;
}

}  // namespace

TEST_CASE("the ops reproduce NVIDIA's G_small synthesis images (skipped when the fixture folder is absent)") {
  // NVIDIA's own output: /work/shared/fixtures/stylegan2 (or $FER_SG2_FIXTURES), described in stylegan2.md.
  const char* env = std::getenv("FER_SG2_FIXTURES");
  const std::string dir = env ? env : "/work/shared/fixtures/stylegan2";
  if (!std::filesystem::exists(dir + "/G_small.safetensors")) {
    MESSAGE("skipped: no NVIDIA fixture at ", dir);
    return;
  }
  auto G = read_f32_safetensors(dir + "/G_small.safetensors");
  auto io = read_f32_safetensors(dir + "/G_small.io.safetensors");
  NoGradGuard no_grad;
  auto affine = [&](const std::string& prefix, const Tensor& w) {
    const Tensor& weight = G.at(prefix + ".affine.weight");
    return linear(w, scale(weight, 1.0 / std::sqrt(double(weight.size(1)))), G.at(prefix + ".affine.bias"));
  };
  const Tensor filter = setup_filter({1, 3, 3, 1});
  for (const char* kase : {"psi1_const", "psi07_cut4_const", "psi1_none"}) {
    CAPTURE(kase);
    const bool noise_const = std::string(kase).find("_const") != std::string::npos;
    const Tensor ws = io.at(std::string("ws_") + kase);  // [N, 8, 64]
    const int64_t N = ws.size(0), wdim = ws.size(2);
    auto w_at = [&](int64_t k) {  // ws[:, k]
      Tensor r = Tensor::empty({N, wdim});
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < wdim; ++c) r.set_flat(n * wdim + c, ws.flat((n * ws.size(1) + k) * wdim + c));
      return r;
    };
    auto layer = [&](const std::string& prefix, const Tensor& x, int64_t k, int64_t up) {
      ModConvParams p;
      p.padding = 1;
      p.up = up;
      Tensor noise;
      if (noise_const) {
        const Tensor& nc = G.at(prefix + ".noise_const");
        noise = scale(nc.view_as_shape({1, nc.size(0), nc.size(1), 1}), G.at(prefix + ".noise_strength").item());
      }
      Tensor y = modulated_conv2d(x, oihw_to_ohwi(G.at(prefix + ".weight")), affine(prefix, w_at(k)), p, noise);
      return bias_act(y, G.at(prefix + ".bias"), fer::Activation::lrelu, std::nullopt, std::nullopt,
                      256 * std::sqrt(2.0));
    };
    auto torgb = [&](const std::string& prefix, const Tensor& x, int64_t k) {
      const Tensor& weight = G.at(prefix + ".weight");
      Tensor styles = scale(affine(prefix, w_at(k)), 1.0 / std::sqrt(double(weight.size(1))));
      ModConvParams p;
      p.demodulate = false;
      Tensor y = modulated_conv2d(x, oihw_to_ohwi(weight), styles, p);
      return bias_act(y, G.at(prefix + ".bias"), fer::Activation::linear, std::nullopt, std::nullopt, 256);
    };
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor& cst = G.at("synthesis.b4.const");  // [C, 4, 4]
    const int64_t C = cst.size(0);
    Tensor x = Tensor::empty({N, 4, 4, C});
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < 16; ++p) x.set_flat((n * 16 + p) * C + c, cst.flat(c * 16 + p));
    x = layer("synthesis.b4.conv1", x, 0, 1);
    Tensor img = torgb("synthesis.b4.torgb", x, 1);
    for (int64_t res = 8, k = 1; res <= 32; res *= 2, k += 2) {
      const std::string b = "synthesis.b" + std::to_string(res);
      x = layer(b + ".conv0", x, k, 2);
      x = layer(b + ".conv1", x, k + 1, 1);
      img = add(upsample2d(img, filter), torgb(b + ".torgb", x, k + 2));
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const Tensor& want = io.at(std::string("img_") + kase);  // [N, 1, 32, 32]: with one channel, NCHW = NHWC
    REQUIRE(img.shape() == Shape{N, 32, 32, 1});
    const double err = rel_error(img, want.view_as_shape(img.shape()));
    MESSAGE(std::string(kase), ": max |fer - NVIDIA| / max |NVIDIA| = ", err, ", synthesis ", ms, " ms (f32, batch ", N,
            ")");
    CHECK(err < 1e-5);
  }
}

namespace {

// Output and gradients of a small synthesis-layer step: bias_act(modulated_conv2d(x, w, s) + noise), then a
// 2x upsample of the result (upfirdn2d), reduced against a fixed cotangent.
struct StepResult {
  Tensor y, gx, gw, gs, gb;
};
StepResult synthesis_step(const Tensor& x, const Tensor& w, const Tensor& s, const Tensor& b, const Tensor& noise,
                          int64_t up) {
  for (const Tensor* t : {&x, &w, &s, &b}) t->drop_grad();
  ModConvParams p;
  p.padding = 1;
  p.up = up;
  Tensor h =
      bias_act(modulated_conv2d(x, w, s, p, noise), b, fer::Activation::lrelu, std::nullopt, std::nullopt, 1.0);
  Tensor y = upsample2d(h, setup_filter({1, 3, 3, 1}, true, x.dtype()));
  backward(y, fixture_cotangent(y.shape(), y.dtype()));
  return {y.detach(), x.grad().clone(), w.grad().clone(), s.grad().clone(), b.grad().clone()};
}

}  // namespace

TEST_CASE("modconv, bias_act, upfirdn2d: the parallel paths agree with one thread (larger sizes, f64)") {
  Generator gen(41);
  const int64_t N = 3, C = 32;  // big enough that every kernel splits its work (modulation included)
  for (int64_t up : {int64_t(1), int64_t(2)}) {
    CAPTURE(up);
    const int64_t H = up == 1 ? 20 : 10;
    Tensor x = Tensor::randn({N, H, H + 1, C}, DType::f64, gen).set_requires_grad(true);
    Tensor w = Tensor::randn({C, 3, 3, C}, DType::f64, gen).set_requires_grad(true);
    Tensor s = Tensor::rand({N, C}, DType::f64, gen, 0.3, 1.5).set_requires_grad(true);
    Tensor b = Tensor::randn({C}, DType::f64, gen).set_requires_grad(true);
    Tensor noise = Tensor::randn({N, H * up, (H + 1) * up, 1}, DType::f64, gen);
    const int threads = num_threads();
    StepResult par = synthesis_step(x, w, s, b, noise, up);
    set_num_threads(1);
    StepResult one = synthesis_step(x, w, s, b, noise, up);
    set_num_threads(threads);
    CHECK(rel_error(par.y, one.y) < 1e-13);
    CHECK(rel_error(par.gx, one.gx) < 1e-12);
    CHECK(rel_error(par.gw, one.gw) < 1e-12);
    CHECK(rel_error(par.gs, one.gs) < 1e-12);
    CHECK(rel_error(par.gb, one.gb) < 1e-12);
  }
}

TEST_CASE("Graph: a recorded synthesis-layer step replays with new inputs like an eager run") {
  Generator gen(43);
  const int64_t N = 2, C = 5;
  Tensor x = Tensor::randn({N, 4, 3, C}, DType::f64, gen).set_requires_grad(true);
  Tensor w = Tensor::randn({C, 3, 3, C}, DType::f64, gen).set_requires_grad(true);
  Tensor s = Tensor::rand({N, C}, DType::f64, gen, 0.3, 1.5).set_requires_grad(true);
  Tensor b = Tensor::randn({C}, DType::f64, gen).set_requires_grad(true);
  Tensor noise = Tensor::randn({1, 8, 6, 1}, DType::f64, gen);
  Tape::current().clear();
  ModConvParams p;
  p.padding = 1;
  p.up = 2;
  auto step = [&] {
    Tensor h =
      bias_act(modulated_conv2d(x, w, s, p, noise), b, fer::Activation::lrelu, std::nullopt, std::nullopt, 1.0);
    return sum(upsample2d(h, setup_filter({1, 3, 3, 1}, true, DType::f64)));
  };
  Graph g = Graph::capture(step);
  // New values in the same buffers, then replay.
  x.copy_(Tensor::randn(x.shape(), DType::f64, gen));
  s.copy_(Tensor::rand(s.shape(), DType::f64, gen, 0.3, 1.5));
  for (const Tensor* t : {&x, &w, &s, &b}) t->drop_grad();
  g.forward();
  g.backward();
  const double replayed = g.output().item();
  Tensor gx = x.grad().clone(), gw = w.grad().clone(), gs = s.grad().clone(), gb = b.grad().clone();
  for (const Tensor* t : {&x, &w, &s, &b}) t->drop_grad();
  Tensor eager = step();
  backward(eager);
  CHECK(replayed == doctest::Approx(eager.item()).epsilon(1e-12));
  CHECK(rel_error(gx, x.grad()) < 1e-12);
  CHECK(rel_error(gw, w.grad()) < 1e-12);
  CHECK(rel_error(gs, s.grad()) < 1e-12);
  CHECK(rel_error(gb, b.grad()) < 1e-12);
}
