// nn layers (fer/nn/layers.hpp): PyTorch names and Sequential numbering, each layer equal to its functional op,
// Flatten in NCHW order, BatchNorm2d modes and buffers, Dropout, default init bounds, argument checks.
#include <doctest/doctest.h>

#include <cmath>

#include "fer/nn/layers.hpp"

using namespace fer;

namespace {

std::vector<std::string> keys(const nn::Module& m) {
  std::vector<std::string> out;
  for (auto& [k, t] : m.state_dict()) out.push_back(k);
  return out;
}

void check_same(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> va = a.to_vector(), vb = b.to_vector();
  for (size_t i = 0; i < va.size(); ++i) REQUIRE(va[i] == vb[i]);
}

}  // namespace

TEST_CASE("Sequential numbers its children as nn.Sequential; names follow torch.nn") {
  Generator gen(1);
  nn::Sequential seq;
  seq.emplace<nn::Conv2d>(3, 8, 3, 1, 1, 1, 1, false, gen);
  seq.emplace<nn::BatchNorm2d>(8);
  seq.emplace<nn::ReLU>();
  seq.emplace<nn::AdaptiveAvgPool2d>(1);
  seq.emplace<nn::Flatten>();
  seq.emplace<nn::Linear>(8, 4, true, gen);
  // nn.Sequential(Conv2d(3, 8, 3, padding=1, bias=False), BatchNorm2d(8), ReLU(), AdaptiveAvgPool2d(1), Flatten(),
  // Linear(8, 4)).state_dict().keys() in PyTorch 1.13:
  std::vector<std::string> expect = {"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                     "1.num_batches_tracked", "5.weight", "5.bias"};
  CHECK(keys(seq) == expect);
  CHECK(seq.num_parameters() == 8 * 3 * 3 * 3 + 2 * 8 + 8 * 4 + 4);
  CHECK(seq.size() == 6);
  CHECK(seq(Tensor::randn({2, 5, 7, 3}, DType::f32, gen)).shape() == Shape{2, 4});
  CHECK_THROWS_WITH_AS(seq[6], doctest::Contains("out of range"), fer::Error);
  // train()/eval() reach the children.
  seq.eval();
  CHECK(!seq[1].is_training());
  seq.train();
  CHECK(seq[1].is_training());
}

TEST_CASE("layers equal their functional ops") {
  Generator gen(2);
  Tensor x = Tensor::randn({2, 7, 6, 4}, DType::f32, gen);

  nn::Conv2d conv(4, 6, 3, 2, 1, 1, 2, true, gen);
  CHECK(conv.weight.shape() == Shape{6, 3, 3, 2});
  check_same(conv(x), conv2d(x, conv.weight, conv.bias, Conv2dParams::make(2, 1, 1, 2)));
  nn::Conv2d rect(4, 5, {1, 3}, Conv2dParams::make(1, 0), false, gen);
  CHECK(rect.weight.shape() == Shape{5, 1, 3, 4});
  CHECK(!rect.bias.defined());
  check_same(rect(x), conv2d(x, rect.weight, Tensor(), Conv2dParams::make(1, 0)));

  nn::Linear lin(4, 3, true, gen);
  check_same(lin(x), linear(x, lin.weight, lin.bias));

  Pool2dParams mp = Pool2dParams::make(3, 2, 1);
  mp.ceil_mode = true;
  check_same(nn::MaxPool2d(3, 2, 1, 1, true)(x), max_pool2d(x, mp));
  Pool2dParams ap = Pool2dParams::make(2, 0, 1);
  ap.count_include_pad = false;
  check_same(nn::AvgPool2d(2, 0, 1, false, false)(x), avg_pool2d(x, ap));
  check_same(nn::AdaptiveAvgPool2d(3, 2)(x), adaptive_avg_pool2d(x, 3, 2));

  check_same(nn::ReLU()(x), relu(x));
  check_same(nn::ReLU6()(x), relu6(x));
  check_same(nn::LeakyReLU(0.2)(x), leaky_relu(x, 0.2));
  check_same(nn::GELU()(x), gelu(x));
  check_same(nn::SiLU()(x), silu(x));
  check_same(nn::Hardswish()(x), hardswish(x));
  check_same(nn::Hardsigmoid()(x), hardsigmoid(x));
  check_same(nn::Sigmoid()(x), sigmoid(x));
  check_same(nn::Tanh()(x), fer::tanh(x));
  CHECK(nn::Identity()(x).same(x));
}

TEST_CASE("Flatten uses PyTorch's NCHW element order") {
  Tensor x = Tensor::empty({2, 3, 4, 5});  // NHWC
  for (int64_t i = 0; i < x.numel(); ++i) x.set_flat(i, double(i));
  Tensor y = nn::Flatten()(x);
  REQUIRE(y.shape() == Shape{2, 60});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t w = 0; w < 4; ++w)
        for (int64_t c = 0; c < 5; ++c) REQUIRE(y.at(n, c * 12 + h * 4 + w) == x.at(n, h, w, c));
  Tensor pooled = Tensor::randn({2, 1, 1, 5});
  check_same(nn::Flatten()(pooled), pooled.view_as_shape({2, 5}));
  Tensor flat = Tensor::randn({2, 5});
  check_same(nn::Flatten()(flat), flat);
}

TEST_CASE("BatchNorm2d: running statistics in training, used in eval; affine and tracking options") {
  Generator gen(3);
  nn::BatchNorm2d bn(3, 1e-5, 0.5);
  Tensor x = Tensor::randn({4, 2, 2, 3}, DType::f32, gen, 1.0, 2.0);
  bn(x);
  CHECK(bn.num_batches_tracked.item() == 1);
  // Channel 0: running_mean = 0.5 * batch mean; running_var = 0.5 + 0.5 * unbiased batch variance.
  double mean = 0, sq = 0;
  for (int64_t i = 0; i < 16; ++i) mean += x.flat(i * 3) / 16;
  for (int64_t i = 0; i < 16; ++i) sq += (x.flat(i * 3) - mean) * (x.flat(i * 3) - mean);
  CHECK(bn.running_mean.flat(0) == doctest::Approx(0.5 * mean).epsilon(1e-5));
  CHECK(bn.running_var.flat(0) == doctest::Approx(0.5 + 0.5 * sq / 15).epsilon(1e-5));

  bn.weight.fill_(2.0);
  bn.bias.fill_(0.5);
  bn.eval();
  Tensor y = bn(x);
  CHECK(bn.num_batches_tracked.item() == 1);  // eval leaves the statistics alone
  double expect = (x.flat(0) - bn.running_mean.flat(0)) / std::sqrt(bn.running_var.flat(0) + 1e-5) * 2.0 + 0.5;
  CHECK(y.flat(0) == doctest::Approx(expect).epsilon(1e-5));

  CHECK(keys(nn::BatchNorm2d(3, 1e-5, 0.1, false, true)) ==
        std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
  CHECK(keys(nn::BatchNorm2d(3, 1e-5, 0.1, true, false)) == std::vector<std::string>{"weight", "bias"});
  CHECK_THROWS_WITH_AS(bn(Tensor::zeros({4, 3})), doctest::Contains("NHWC"), fer::Error);
}

TEST_CASE("Dropout: identity in eval, zeroes about p and rescales in training") {
  manual_seed(4);  // masks come from the default generator
  nn::Dropout drop(0.25);
  Tensor x = Tensor::ones({4000});
  Tensor y = drop(x);
  int64_t zeros = 0;
  for (double v : y.to_vector()) {
    if (v == 0) ++zeros;
    else REQUIRE(v == doctest::Approx(1 / 0.75));
  }
  CHECK(zeros > 850);  // expected 1000, sd ~27
  CHECK(zeros < 1150);
  drop.eval();
  CHECK(drop(x).same(x));
  CHECK_THROWS_AS(nn::Dropout(1.5), fer::Error);
}

TEST_CASE("Conv2d/Linear: PyTorch default init bounds, OIHW export, argument checks") {
  Generator gen(5);
  nn::Conv2d conv(16, 32, 3, 1, 1, 1, 1, true, gen);
  double bound = 1 / std::sqrt(16.0 * 9), worst_w = 0, worst_b = 0;
  for (double v : conv.weight.to_vector()) worst_w = std::max(worst_w, std::abs(v));
  for (double v : conv.bias.to_vector()) worst_b = std::max(worst_b, std::abs(v));
  CHECK(worst_w <= bound);
  CHECK(worst_w > 0.95 * bound);
  CHECK(worst_b <= bound);
  CHECK(conv.state_dict()[0].second.shape() == Shape{32, 16, 3, 3});
  nn::Linear lin(50, 7, false, gen);
  CHECK(keys(lin) == std::vector<std::string>{"weight"});
  for (double v : lin.weight.to_vector()) REQUIRE(std::abs(v) <= 1 / std::sqrt(50.0));

  CHECK_THROWS_WITH_AS(nn::Conv2d(6, 4, 3, 1, 0, 1, 4), doctest::Contains("divisible by groups"), fer::Error);
  CHECK_THROWS_AS(nn::Linear(0, 3), fer::Error);
  CHECK_THROWS_AS(nn::AdaptiveAvgPool2d(0), fer::Error);
}
