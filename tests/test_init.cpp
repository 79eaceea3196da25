// nn::init: fans and gains equal PyTorch's, and every initializer's samples have the stated distribution
// (means and standard deviations within 5 standard errors for the sample size, hard bounds exactly).
#include <doctest/doctest.h>

#include <cmath>

#include "fer/fer.hpp"
#include "fer/nn/init.hpp"

using namespace fer;
using namespace fer::nn;
using namespace fer::nn::init;

namespace {

struct Sample {
  double mean = 0, std = 0, min = INFINITY, max = -INFINITY;
  int64_t n = 0;
};
Sample sample_of(const Tensor& t) {
  Sample s;
  std::vector<double> v = t.to_vector();
  s.n = int64_t(v.size());
  for (double x : v) {
    s.mean += x;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  s.mean /= double(s.n);
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / double(s.n - 1));
  return s;
}
// Sample mean and std against the distribution's (mu, sigma); `kurtosis` = E[(x-mu)^4] / sigma^4 of the
// distribution (3 normal, 1.8 uniform) sets the standard error of the sample std: sigma * sqrt((k - 1) / n) / 2.
void check_moments(const Sample& s, double mu, double sigma, double kurtosis) {
  double n = double(s.n);
  CHECK(std::abs(s.mean - mu) <= 5 * sigma / std::sqrt(n));
  CHECK(std::abs(s.std / sigma - 1) <= 5 * 0.5 * std::sqrt((kurtosis - 1) / n));
}
double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); }
double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

}  // namespace

TEST_CASE("fan_in / fan_out equal torch.nn.init._calculate_fan_in_and_fan_out for the external layout") {
  // (OIHW shape as torch sees it) -> torch's (fan_in, fan_out); we pass the OHWI shape with conv_ohwi.
  struct Case {
    Shape oihw;
    int64_t fan_in, fan_out;
  };
  for (const Case& c : std::vector<Case>{{{64, 3, 7, 7}, 147, 3136},
                                         {{32, 1, 3, 3}, 9, 288},
                                         {{24, 16, 1, 1}, 16, 24},
                                         {{5, 4, 3, 2}, 24, 30}}) {
    CAPTURE(c.oihw.str());
    Shape ohwi{c.oihw[0], c.oihw[2], c.oihw[3], c.oihw[1]};
    Fans f = compute_fans(ohwi, ParamLayout::conv_ohwi);
    CHECK(f.fan_in == c.fan_in);
    CHECK(f.fan_out == c.fan_out);
    Fans p = compute_fans(c.oihw, ParamLayout::plain);  // the same shape given in PyTorch's own layout
    CHECK(p.fan_in == c.fan_in);
    CHECK(p.fan_out == c.fan_out);
  }
  CHECK(compute_fans(Shape{1000, 512}).fan_in == 512);
  CHECK(compute_fans(Shape{1000, 512}).fan_out == 1000);
  CHECK(compute_fans(Shape{10, 20}).fan_in == 20);
  CHECK_THROWS_WITH_AS(compute_fans(Shape{7}), doctest::Contains("at least 2 dims"), fer::Error);
}

TEST_CASE("calculate_gain equals torch.nn.init.calculate_gain") {
  CHECK(calculate_gain(Nonlinearity::linear) == 1.0);
  CHECK(calculate_gain(Nonlinearity::sigmoid) == 1.0);
  CHECK(calculate_gain(Nonlinearity::tanh) == doctest::Approx(1.6666666666666667).epsilon(1e-15));
  CHECK(calculate_gain(Nonlinearity::relu) == doctest::Approx(1.4142135623730951).epsilon(1e-15));
  CHECK(calculate_gain(Nonlinearity::leaky_relu) == doctest::Approx(1.4141428569978354).epsilon(1e-15));
  CHECK(calculate_gain(Nonlinearity::leaky_relu, 0.2) == doctest::Approx(1.3867504905630728).epsilon(1e-15));
  CHECK(calculate_gain(Nonlinearity::leaky_relu, std::sqrt(5.0)) == doctest::Approx(0.5773502691896257).epsilon(1e-15));
  CHECK(calculate_gain(Nonlinearity::selu) == 0.75);
}

TEST_CASE("uniform_, normal_, constant_ (f32, f64 and the f16 path)") {
  Generator gen(11);
  Tensor u = Tensor::empty({100000});
  uniform_(u, -0.3, 0.7, gen);
  Sample su = sample_of(u);
  check_moments(su, 0.2, 1.0 / std::sqrt(12.0), 1.8);
  CHECK(su.min >= -0.3);
  CHECK(su.max < 0.7);
  CHECK(su.min < -0.299);  // the whole interval is used
  CHECK(su.max > 0.699);

  Tensor g = Tensor::empty({300, 301}, DType::f64);
  normal_(g, 1.5, 0.5, gen);
  check_moments(sample_of(g), 1.5, 0.5, 3.0);

  Tensor h = Tensor::empty({50000}, DType::f16);
  normal_(h, -1.0, 2.0, gen);
  check_moments(sample_of(h), -1.0, 2.0, 3.0);

  Tensor c = Tensor::empty({3, 4}, DType::bf16);
  constant_(c, 0.5);
  CHECK(c.to_vector() == std::vector<double>(12, 0.5));
  ones_(c);
  CHECK(c.to_vector() == std::vector<double>(12, 1.0));
  zeros_(u);
  CHECK(sample_of(u).max == 0.0);

  // Same seed, same values; another seed, other values.
  Tensor a = Tensor::empty({64}), b = Tensor::empty({64}), d = Tensor::empty({64});
  Generator g1(5), g2(5), g3(6);
  normal_(a, 0, 1, g1);
  normal_(b, 0, 1, g2);
  normal_(d, 0, 1, g3);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != d.to_vector());

  Tensor ints = Tensor::zeros({4}, DType::i64);
  CHECK_THROWS_WITH_AS(uniform_(ints, 0, 1, gen), doctest::Contains("needs a floating tensor"), fer::Error);
}

TEST_CASE("kaiming_uniform_ / kaiming_normal_ / xavier_uniform_ use PyTorch's bounds and stds") {
  Generator gen(21);
  // Conv OHWI [64, 7, 7, 3]: torch fan_in 147. Default a = 0, leaky_relu: gain sqrt(2), bound sqrt(3) * gain / sqrt(147).
  Tensor w = Tensor::empty({64, 7, 7, 3});
  kaiming_uniform_(w, {.layout = ParamLayout::conv_ohwi}, gen);
  double bound = std::sqrt(3.0) * std::sqrt(2.0) / std::sqrt(147.0);
  Sample s = sample_of(w);
  CHECK(s.max <= bound);
  CHECK(s.min >= -bound);
  CHECK(s.max > 0.99 * bound);
  check_moments(s, 0.0, bound / std::sqrt(3.0), 1.8);

  // torchvision ResNet: kaiming_normal_(mode="fan_out", nonlinearity="relu"); OHWI [256, 3, 3, 128]: fan_out 2304.
  Tensor k = Tensor::empty({256, 3, 3, 128});
  kaiming_normal_(k, {.mode = FanMode::fan_out, .nonlinearity = Nonlinearity::relu, .layout = ParamLayout::conv_ohwi},
                  gen);
  check_moments(sample_of(k), 0.0, std::sqrt(2.0 / 2304.0), 3.0);
  // Reading the same OHWI tensor as plain would give another fan (256 * 3 * 128 = 98304 vs 2304): the layout matters.
  CHECK(compute_fans(k.shape()).fan_out != 2304);

  Tensor x = Tensor::empty({300, 200});
  xavier_uniform_(x, 1.0, ParamLayout::plain, gen);
  double xb = std::sqrt(6.0 / 500.0);
  Sample sx = sample_of(x);
  CHECK(sx.max <= xb);
  CHECK(sx.min >= -xb);
  check_moments(sx, 0.0, xb / std::sqrt(3.0), 1.8);

  Tensor xn = Tensor::empty({300, 200}, DType::f64);
  xavier_normal_(xn, 2.0, ParamLayout::plain, gen);
  check_moments(sample_of(xn), 0.0, 2.0 * std::sqrt(2.0 / 500.0), 3.0);
}

TEST_CASE("trunc_normal_: hard bounds and the truncated distribution's mean and std") {
  Generator gen(31);
  Tensor t = Tensor::empty({200000}, DType::f64);
  trunc_normal_(t, 0.0, 1.0, -1.0, 2.0, gen);
  Sample s = sample_of(t);
  CHECK(s.min >= -1.0);
  CHECK(s.max <= 2.0);
  CHECK(s.min < -0.999);
  CHECK(s.max > 1.99);
  double a = -1, b = 2, z = Phi(b) - Phi(a);
  double mean = (phi(a) - phi(b)) / z;
  double var = 1 + (a * phi(a) - b * phi(b)) / z - mean * mean;
  check_moments(s, mean, std::sqrt(var), 3.0);  // kurtosis of a truncated normal is below 3: conservative

  // ConvNeXt's trunc_normal_(std=0.02) with the default absolute bounds [-2, 2]: a plain N(0, 0.02^2).
  Tensor c = Tensor::empty({100000});
  trunc_normal_(c, 0.0, 0.02, -2.0, 2.0, gen);
  check_moments(sample_of(c), 0.0, 0.02, 3.0);

  CHECK_THROWS_WITH_AS(trunc_normal_(c, 0.0, 1.0, 10.0, 11.0, gen), doctest::Contains("holds only"), fer::Error);
  CHECK_THROWS_WITH_AS(trunc_normal_(c, 0.0, 1.0, 1.0, -1.0, gen), doctest::Contains("a < b"), fer::Error);
}

TEST_CASE("default_conv_init / default_linear_init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases") {
  Generator gen(41);
  // Conv2d(8, 32, 3) in OHWI: fan_in = 8 * 9 = 72.
  Tensor w = Tensor::empty({32, 3, 3, 8}), b = Tensor::empty({32});
  default_conv_init(w, b, gen);
  double bound = 1.0 / std::sqrt(72.0);
  Sample sw = sample_of(w), sb = sample_of(b);
  CHECK(sw.max <= bound);
  CHECK(sw.min >= -bound);
  CHECK(sw.max > 0.98 * bound);
  check_moments(sw, 0.0, bound / std::sqrt(3.0), 1.8);
  CHECK(sb.max <= bound);
  CHECK(sb.min >= -bound);
  CHECK(sb.std > 0);

  // Linear(40, 1000): fan_in 40.
  Tensor lw = Tensor::empty({1000, 40}), lb = Tensor::empty({1000});
  default_linear_init(lw, lb, gen);
  double lbound = 1.0 / std::sqrt(40.0);
  Sample sl = sample_of(lw), slb = sample_of(lb);
  CHECK(sl.max <= lbound);
  CHECK(sl.min >= -lbound);
  check_moments(sl, 0.0, lbound / std::sqrt(3.0), 1.8);
  CHECK(slb.max <= lbound);
  CHECK(slb.min >= -lbound);
  check_moments(slb, 0.0, lbound / std::sqrt(3.0), 1.8);

  // A conv without bias.
  Tensor nb;
  default_conv_init(w, nb, gen);
  CHECK(sample_of(w).max <= bound);
}
