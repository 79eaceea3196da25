// conv2d: forward against a direct-loop reference and PyTorch, gradient checks over the options, threading,
// graph replay and argument errors.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/ops/conv.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::max_rel_error;
using fer::testing::rand_input;

namespace {

// The definition of conv2d, one output element at a time, in double (x NHWC, w OHWI).
std::vector<double> reference_conv(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  const int64_t n = x.size(0), h = x.size(1), wd = x.size(2), c = x.size(3);
  const int64_t o = w.size(0), kh = w.size(1), kw = w.size(2), cg = w.size(3), og = o / p.groups;
  const int64_t ho = (h + p.padding[0] + p.padding[1] - p.dilation[0] * (kh - 1) - 1) / p.stride[0] + 1;
  const int64_t wo = (wd + p.padding[2] + p.padding[3] - p.dilation[1] * (kw - 1) - 1) / p.stride[1] + 1;
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector();
  const std::vector<double> bv = bias.defined() ? bias.to_vector() : std::vector<double>(size_t(o), 0.0);
  std::vector<double> y(size_t(n * ho * wo * o));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oh = 0; oh < ho; ++oh)
      for (int64_t ow = 0; ow < wo; ++ow)
        for (int64_t oc = 0; oc < o; ++oc) {
          const int64_t grp = oc / og;
          double acc = bv[size_t(oc)];
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j)
              for (int64_t ci = 0; ci < cg; ++ci) {
                const int64_t ih = oh * p.stride[0] - p.padding[0] + i * p.dilation[0];
                const int64_t iw = ow * p.stride[1] - p.padding[2] + j * p.dilation[1];
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                acc += xv[size_t(((b * h + ih) * wd + iw) * c + grp * cg + ci)] *
                       wv[size_t(((oc * kh + i) * kw + j) * cg + ci)];
              }
          y[size_t(((b * ho + oh) * wo + ow) * o + oc)] = acc;
        }
  return y;
}

// A view of channels [c0, c0 + c) of an NHWC tensor: same storage, not contiguous.
Tensor channel_slice(const Tensor& t, int64_t c0, int64_t c) {
  auto impl = std::make_shared<TensorImpl>(*t.impl());
  impl->offset += c0;
  impl->shape[3] = c;
  impl->requires_grad = false;
  impl->grad.reset();
  return Tensor(std::move(impl));
}

struct ConvCase {
  int64_t n, h, w, c, o, kh, kw;
  Conv2dParams p;
  bool bias;
  std::string str() const {
    return "N" + std::to_string(n) + " H" + std::to_string(h) + " W" + std::to_string(w) + " C" + std::to_string(c) +
           " O" + std::to_string(o) + " k" + std::to_string(kh) + "x" + std::to_string(kw) + " s" +
           std::to_string(p.stride[0]) + "," + std::to_string(p.stride[1]) + " pad" + std::to_string(p.padding[0]) +
           "," + std::to_string(p.padding[1]) + "," + std::to_string(p.padding[2]) + "," +
           std::to_string(p.padding[3]) + " dil" + std::to_string(p.dilation[0]) + "," +
           std::to_string(p.dilation[1]) + " g" + std::to_string(p.groups) + (bias ? " bias" : "");
  }
};

Conv2dParams params(std::array<int64_t, 2> stride, std::array<int64_t, 4> pad, std::array<int64_t, 2> dil,
                    int64_t groups) {
  Conv2dParams p;
  p.stride = stride;
  p.padding = pad;
  p.dilation = dil;
  p.groups = groups;
  return p;
}

// Random f64 x, w and bias for a case, all requiring grad.
std::array<Tensor, 3> rand_operands(const ConvCase& cc, Generator& gen) {
  return {rand_input({cc.n, cc.h, cc.w, cc.c}, gen), rand_input({cc.o, cc.kh, cc.kw, cc.c / cc.p.groups}, gen),
          rand_input({cc.o}, gen)};
}

// Forward of one case in `dtype` against the reference; returns the worst relative error.
double forward_error(const ConvCase& cc, DType dtype, Generator& gen) {
  Tensor x = Tensor::rand({cc.n, cc.h, cc.w, cc.c}, dtype, gen, -1, 1);
  Tensor w = Tensor::rand({cc.o, cc.kh, cc.kw, cc.c / cc.p.groups}, dtype, gen, -1, 1);
  Tensor b = cc.bias ? Tensor::rand({cc.o}, dtype, gen, -1, 1) : Tensor();
  Tensor y = conv2d(x, w, b, cc.p);
  const std::vector<double> want = reference_conv(x, w, b, cc.p);
  CHECK(y.dim() == 4);
  CHECK(y.size(0) == cc.n);
  CHECK(y.size(3) == cc.o);
  return max_rel_error(y, want);
}

}  // namespace

TEST_CASE("conv2d forward matches the direct-loop reference over random configurations") {
  Generator gen(11);
  int checked = 0;
  for (int64_t k : {1, 3, 5, 7})
    for (int64_t stride : {1, 2})
      for (int pad_mode = 0; pad_mode < 3; ++pad_mode)
        for (int64_t dil : {1, 2})
          for (int group_mode = 0; group_mode < 4; ++group_mode) {
            ConvCase cc{};
            cc.kh = cc.kw = k;
            const int64_t span = dil * (k - 1) + 1;
            std::array<int64_t, 4> pad{0, 0, 0, 0};
            if (pad_mode == 1) pad = {k / 2 * dil, k / 2 * dil, k / 2 * dil, k / 2 * dil};
            if (pad_mode == 2) pad = {int64_t(gen.below(3)), int64_t(gen.below(2)), 0, int64_t(gen.below(3)) + 1};
            cc.n = 1 + int64_t(gen.below(3));
            cc.h = span + int64_t(gen.below(5));
            cc.w = span + int64_t(gen.below(6));
            int64_t groups = 1;
            switch (group_mode) {
              case 0: cc.c = 1 + int64_t(gen.below(6)), cc.o = 1 + int64_t(gen.below(7)); break;
              case 1: groups = 2, cc.c = 2 * (1 + int64_t(gen.below(3))), cc.o = 2 * (1 + int64_t(gen.below(3))); break;
              case 2: cc.c = 2 + int64_t(gen.below(40)), groups = cc.c, cc.o = cc.c; break;  // depthwise
              case 3: cc.c = 2 + int64_t(gen.below(20)), groups = cc.c, cc.o = 2 * cc.c; break;  // multiplier 2
            }
            cc.p = params({stride, stride}, pad, {dil, dil}, groups);
            cc.bias = gen.below(2) == 1;
            CAPTURE(cc.str());
            CHECK(forward_error(cc, DType::f32, gen) < 2e-5);
            CHECK(forward_error(cc, DType::f64, gen) < 1e-12);
            ++checked;
          }
  CHECK(checked == 192);
}

TEST_CASE("conv2d forward: rectangular kernels, per-axis stride and dilation, wide channels") {
  Generator gen(5);
  std::vector<ConvCase> cases = {
      {2, 9, 7, 5, 6, 3, 1, params({2, 1}, {1, 1, 0, 0}, {1, 1}, 1), true},
      {1, 8, 11, 4, 4, 1, 5, params({1, 2}, {0, 0, 2, 2}, {1, 2}, 2), false},
      {3, 7, 7, 70, 70, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 70), true},   // depthwise, 2 blocks + tail
      {2, 6, 5, 33, 66, 3, 3, params({2, 2}, {1, 0, 1, 0}, {1, 1}, 33), false},  // depthwise, multiplier 2
      {2, 6, 6, 40, 24, 1, 1, params({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), true},    // pointwise GEMM
      {2, 7, 7, 12, 8, 1, 1, params({2, 2}, {0, 0, 0, 0}, {1, 1}, 1), false},    // strided 1x1
      {2, 5, 5, 12, 9, 1, 1, params({1, 1}, {0, 0, 0, 0}, {1, 1}, 3), true},     // grouped 1x1
      {1, 40, 37, 3, 16, 3, 3, params({2, 2}, {1, 1, 1, 1}, {1, 1}, 1), true},   // stem-like, several tiles
      {1, 6, 6, 3, 5, 6, 6, params({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), true},      // kernel covers the input
  };
  for (const ConvCase& cc : cases) {
    CAPTURE(cc.str());
    CHECK(forward_error(cc, DType::f32, gen) < 2e-5);
    CHECK(forward_error(cc, DType::f64, gen) < 1e-12);
  }
}

TEST_CASE("conv2d forward matches PyTorch (fixtures from tools/make_conv_fixtures.py)") {
  // Each file: one JSON line (shapes in NHWC/OHWI, params), then raw little-endian f32 x, w, [bias], y.
  for (const char* name : {"basic_3x3", "stride2_asym_pad", "dilated_grouped", "depthwise_5x5_mult2", "pointwise"}) {
    CAPTURE(name);
    std::ifstream f(std::string(FER_TEST_DATA) + "/conv/" + name + ".bin", std::ios::binary);
    REQUIRE(f.good());
    std::string line;
    std::getline(f, line);
    const nlohmann::json head = nlohmann::json::parse(line);
    auto read = [&](const nlohmann::json& dims) {
      Shape s(dims.get<std::vector<int64_t>>());
      std::vector<float> v(size_t(s.numel()));
      f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
      REQUIRE(f.good());
      return Tensor::from_vector<float>(v, s);
    };
    Tensor x = read(head["x"]), w = read(head["w"]);
    Tensor b = head["bias"].is_null() ? Tensor() : read(head["bias"]);
    Tensor want = read(head["y"]);
    Conv2dParams p;
    for (int d = 0; d < 2; ++d) p.stride[size_t(d)] = head["stride"][size_t(d)].get<int64_t>();
    for (int d = 0; d < 4; ++d) p.padding[size_t(d)] = head["padding"][size_t(d)].get<int64_t>();
    for (int d = 0; d < 2; ++d) p.dilation[size_t(d)] = head["dilation"][size_t(d)].get<int64_t>();
    p.groups = head["groups"].get<int64_t>();
    Tensor y = conv2d(x, w, b, p);
    REQUIRE(y.shape() == want.shape());
    CHECK(max_rel_error(y, want.to_vector()) < 1e-5);
    Tensor y64 = conv2d(x.to(DType::f64), w.to(DType::f64), b.defined() ? b.to(DType::f64) : Tensor(), p);
    CHECK(max_rel_error(y64, want.to_vector()) < 1e-5);
  }
}

TEST_CASE("gradcheck conv2d (f64) for x, w and bias over the options") {
  Generator gen(3);
  std::vector<ConvCase> cases = {
      {2, 5, 6, 3, 4, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), true},
      {1, 7, 6, 2, 3, 3, 3, params({2, 2}, {0, 1, 1, 0}, {1, 1}, 1), false},  // asymmetric ("same" at stride 2)
      {2, 7, 7, 4, 4, 3, 3, params({1, 1}, {2, 2, 2, 2}, {2, 2}, 2), true},   // dilation 2, two groups
      {2, 6, 5, 2, 2, 5, 5, params({2, 1}, {2, 2, 2, 2}, {1, 1}, 1), true},   // 5x5, stride (2, 1)
      {1, 9, 9, 1, 2, 7, 7, params({1, 1}, {3, 3, 3, 3}, {1, 1}, 1), false},  // 7x7
      {2, 4, 3, 5, 3, 1, 1, params({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), true},   // pointwise
      {2, 5, 5, 4, 3, 1, 1, params({2, 2}, {0, 0, 0, 0}, {1, 1}, 1), false},  // strided 1x1
      {2, 5, 6, 3, 3, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 3), true},   // depthwise
      {1, 6, 5, 2, 4, 3, 3, params({2, 2}, {1, 0, 0, 1}, {1, 2}, 2), false},  // depthwise x2, dilated width
      {2, 5, 5, 17, 17, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 17), true},  // depthwise, one block + tail
      {1, 8, 8, 2, 2, 5, 5, params({2, 2}, {2, 2, 2, 2}, {1, 1}, 2), true},     // depthwise 5x5 stride 2
      {2, 4, 5, 3, 3, 1, 1, params({1, 1}, {1, 0, 2, 1}, {1, 1}, 3), true},     // depthwise 1x1, padded
      {1, 5, 4, 2, 2, 3, 3, params({1, 1}, {3, 2, 0, 3}, {1, 1}, 2), false},    // depthwise, pad > kernel - 1
      {1, 7, 12, 19, 19, 3, 3, params({1, 1}, {2, 2, 2, 2}, {2, 2}, 19), false},  // depthwise, dilated, wide row
  };
  for (const ConvCase& cc : cases) {
    CAPTURE(cc.str());
    auto [x, w, b] = rand_operands(cc, gen);
    std::vector<Tensor> in = {x, w};
    if (cc.bias) in.push_back(b);
    const Conv2dParams p = cc.p;
    double worst = gradcheck(
        [p](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), p); }, in);
    CHECK(worst <= 1.0);
  }
}

TEST_CASE("gradcheck conv2d with a non-contiguous input and with only some inputs requiring grad") {
  Generator gen(8);
  Tensor base = Tensor::rand({2, 5, 4, 7}, DType::f64, gen, -1, 1);
  Tensor x = channel_slice(base, 2, 3);  // channels 2..4 of 7
  REQUIRE_FALSE(x.is_contiguous());
  x.set_requires_grad(true);
  Tensor w = rand_input({4, 3, 3, 3}, gen), b = rand_input({4}, gen);
  const Conv2dParams p = Conv2dParams::make(1, 1);
  CHECK(gradcheck([p](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], t[2], p); }, {x, w, b}) <= 1.0);

  // The reference sees the same values through the view.
  Tensor y = conv2d(x.detach(), w.detach(), b.detach(), p);
  CHECK(max_rel_error(y, reference_conv(x, w, b, p)) < 1e-12);

  // Only the weight requires grad: x gets no gradient buffer.
  Tensor x2 = Tensor::rand({1, 4, 4, 3}, DType::f64, gen, -1, 1);
  Tensor w2 = rand_input({2, 3, 3, 3}, gen);
  CHECK(gradcheck([p](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], Tensor(), p); }, {x2, w2}) <= 1.0);
  CHECK_FALSE(x2.grad().defined());
}

TEST_CASE("conv2d gives the same values and gradients with 1, 2 and 3 threads") {
  Generator gen(21);
  const int saved = num_threads();
  std::vector<ConvCase> cases = {
      {3, 9, 8, 6, 5, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), true},
      {1, 9, 8, 6, 4, 3, 3, params({2, 2}, {1, 1, 1, 1}, {1, 1}, 2), true},
      {3, 7, 7, 5, 7, 1, 1, params({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), true},
      {2, 7, 9, 40, 40, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 40), true},
  };
  for (const ConvCase& cc : cases) {
    CAPTURE(cc.str());
    auto [x, w, b] = rand_operands(cc, gen);
    std::vector<std::vector<double>> results;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      x.drop_grad(), w.drop_grad(), b.drop_grad();
      Tensor y = conv2d(x, w, b, cc.p);
      backward(fer::sum(fer::square(y)));
      std::vector<double> r = y.to_vector();
      for (const Tensor& t : {x.grad(), w.grad(), b.grad()})
        for (double v : t.to_vector()) r.push_back(v);
      results.push_back(r);
    }
    set_num_threads(saved);
    for (size_t k = 1; k < results.size(); ++k) {
      double worst = 0;
      for (size_t i = 0; i < results[0].size(); ++i)
        worst = std::max(worst, std::abs(results[k][i] - results[0][i]) / (1 + std::abs(results[0][i])));
      CHECK(worst < 1e-12);
    }
  }
}

TEST_CASE("conv2d backward accumulates into existing gradients (x used twice)") {
  Generator gen(12);
  std::vector<ConvCase> cases = {
      {2, 6, 5, 4, 3, 3, 3, params({1, 1}, {1, 1, 1, 1}, {1, 1}, 1), true},
      {2, 4, 4, 5, 6, 1, 1, params({1, 1}, {0, 0, 0, 0}, {1, 1}, 1), true},
      {2, 6, 6, 40, 40, 3, 3, params({2, 2}, {1, 1, 1, 1}, {1, 1}, 40), true},
  };
  for (const ConvCase& cc : cases) {
    CAPTURE(cc.str());
    auto [x, w, b] = rand_operands(cc, gen);
    backward(fer::sum(conv2d(x, w, b, cc.p)));
    const std::vector<Tensor> once = {x.grad().clone(), w.grad().clone(), b.grad().clone()};
    // Two uses of the same inputs in one graph: every gradient is exactly twice the single one.
    x.drop_grad(), w.drop_grad(), b.drop_grad();
    backward(fer::sum(conv2d(x, w, b, cc.p) + conv2d(x, w, b, cc.p)));
    const std::vector<Tensor> twice = {x.grad(), w.grad(), b.grad()};
    for (size_t k = 0; k < 3; ++k)
      for (int64_t i = 0; i < once[k].numel(); ++i) CHECK(twice[k].flat(i) == doctest::Approx(2 * once[k].flat(i)));
  }
}

TEST_CASE("conv2d replays in a recorded graph with new input values") {
  Generator gen(4);
  const Conv2dParams p = Conv2dParams::make(2, 1);
  Tensor x = Tensor::rand({2, 7, 6, 3}, DType::f32, gen, -1, 1);
  Tensor w = Tensor::rand({5, 3, 3, 3}, DType::f32, gen, -1, 1);
  Tensor b = Tensor::rand({5}, DType::f32, gen, -1, 1);
  w.set_requires_grad(true), b.set_requires_grad(true);
  Graph g = Graph::capture([&] { return conv2d(x, w, b, p); });
  for (int step = 0; step < 2; ++step) {
    x.copy_(Tensor::rand(x.shape(), DType::f32, gen, -1, 1));
    g.forward();
    CHECK(max_rel_error(g.output(), reference_conv(x, w, b, p)) < 2e-5);
    b.zero_grad();
    g.backward(Tensor::ones(g.output().shape()));
    // d(sum y)/d bias = number of output pixels.
    const double pixels = double(g.output().numel() / 5);
    for (int64_t i = 0; i < 5; ++i) CHECK(b.grad().flat(i) == doctest::Approx(pixels));
  }
}

TEST_CASE("conv2d rejects bad arguments with clear errors") {
  Tensor x = Tensor::zeros({1, 5, 5, 4});
  Tensor w = Tensor::zeros({6, 3, 3, 4});
  const Conv2dParams p = Conv2dParams::make(1, 1);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({5, 5, 4}), w, Tensor(), p), doctest::Contains("input [N, H, W, C]"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({6, 3, 3, 3}), Tensor(), p), doctest::Contains("input channels"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({6, 3, 3, 2}), Tensor(), Conv2dParams::make(1, 1, 1, 3)),
                       doctest::Contains("not divisible by groups"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({5, 3, 3, 2}), Tensor(), Conv2dParams::make(1, 1, 1, 2)),
                       doctest::Contains("output channels are not divisible"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor::zeros({5}), p), doctest::Contains("bias must be [6]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w.to(DType::f64), Tensor(), p), doctest::Contains("dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), Conv2dParams::make(0, 1)), doctest::Contains("stride must be >= 1"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), Conv2dParams::make(1, -1)), doctest::Contains("padding must be >= 0"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({6, 7, 7, 4}), Tensor(), Conv2dParams::make(1, 0)),
                       doctest::Contains("does not fit"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x.to(DType::i32), w.to(DType::i32), Tensor(), p), doctest::Contains("not supported"),
                       Error);
}
