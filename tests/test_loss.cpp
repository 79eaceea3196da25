// Softmax, log-softmax and cross-entropy against PyTorch (tools/make_loss_fixtures.py): every combination of class
// weights, label smoothing, reduction and ignore_index, plus probability targets; gradients against PyTorch's and
// by finite differences; error paths.
#include <doctest/doctest.h>

#include <cmath>

#include "fixture_json.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::max_abs_diff;
using fer::testing::rand_input;
using fer::testing::tensor_of;

TEST_CASE("cross_entropy equals PyTorch's loss and gradient in all 26 configurations") {
  auto j = fer::testing::load_json_fixture("loss/cases.json");
  int64_t n = j["n"], c = j["c"];
  Tensor target = Tensor::from_vector<int64_t>(j["target"].get<std::vector<int64_t>>(), {n});
  Tensor target_ignored = Tensor::from_vector<int64_t>(j["target_ignored"].get<std::vector<int64_t>>(), {n});
  Tensor probs = tensor_of(j["probs"], {n, c});
  Tensor weight = tensor_of(j["weight"], {c});
  int checked = 0;
  for (const auto& cs : j["cross_entropy"]) {
    CAPTURE(cs.dump().substr(0, 90));
    Tensor logits = tensor_of(j["logits"], {n, c});
    logits.set_requires_grad(true);
    CrossEntropyOptions opt;
    if (cs["weight"]) opt.weight = weight;
    opt.label_smoothing = cs["smoothing"];
    std::string red = cs["reduction"];
    opt.reduction = red == "mean" ? CrossEntropyOptions::Reduction::mean
                    : red == "sum" ? CrossEntropyOptions::Reduction::sum
                                   : CrossEntropyOptions::Reduction::none;
    bool is_probs = cs.value("probs", false);
    Tensor t = is_probs ? probs : (cs["ignored"] ? target_ignored : target);
    Tensor loss = cross_entropy(logits, t, opt);
    std::vector<double> want = cs["loss"];
    REQUIRE(loss.numel() == int64_t(want.size()));
    for (size_t i = 0; i < want.size(); ++i) CHECK(loss.flat(int64_t(i)) == doctest::Approx(want[i]).epsilon(1e-12));
    backward(red == "none" ? sum(loss) : loss);
    CHECK(max_abs_diff(logits.grad(), tensor_of(cs["grad"], {n, c})) < 1e-12);
    ++checked;
  }
  CHECK(checked == 28);
}

TEST_CASE("softmax / log_softmax values and channel_shuffle against PyTorch") {
  auto j = fer::testing::load_json_fixture("loss/cases.json");
  Tensor x = tensor_of(j["softmax"]["x"], {2, 3, 4});
  CHECK(max_abs_diff(softmax(x, 1), tensor_of(j["softmax"]["softmax_dim1"], {2, 3, 4})) < 1e-14);
  CHECK(max_abs_diff(log_softmax(x, -1), tensor_of(j["softmax"]["log_softmax_last"], {2, 3, 4})) < 1e-14);
  Tensor xc = tensor_of(j["channel_shuffle"]["x"], {1, 2, 1, 6});
  CHECK(max_abs_diff(channel_shuffle(xc, 3), tensor_of(j["channel_shuffle"]["y"], {1, 2, 1, 6})) == 0.0);
}

TEST_CASE("gradcheck: softmax, log_softmax, cross_entropy (weights, smoothing, probability targets)") {
  Generator gen(11);
  Tensor x = rand_input({3, 4, 5}, gen, -2, 2);
  for (int d : {0, 1, -1}) {
    CAPTURE(d);
    CHECK(gradcheck([d](const std::vector<Tensor>& t) { return softmax(t[0], d); }, {x}) <= 1.0);
    CHECK(gradcheck([d](const std::vector<Tensor>& t) { return log_softmax(t[0], d); }, {x}) <= 1.0);
  }
  Tensor logits = rand_input({5, 7}, gen, -3, 3);
  Tensor target = Tensor::from_vector<int32_t>({0, 6, 3, -100, 3}, {5});
  CrossEntropyOptions opt;
  opt.weight = Tensor::rand({7}, DType::f64, gen, 0.2, 2.0);
  opt.label_smoothing = 0.2;
  CHECK(gradcheck([&](const std::vector<Tensor>& t) { return cross_entropy(t[0], target, opt); }, {logits}) <= 1.0);
  opt.reduction = CrossEntropyOptions::Reduction::none;
  CHECK(gradcheck([&](const std::vector<Tensor>& t) { return cross_entropy(t[0], target, opt); }, {logits}) <= 1.0);
  Tensor probs = softmax(Tensor::randn({5, 7}, DType::f64, gen));
  CHECK(gradcheck([&](const std::vector<Tensor>& t) { return cross_entropy(t[0], probs); }, {logits}) <= 1.0);
}

TEST_CASE("cross_entropy is stable for large logits and reports bad targets") {
  Tensor big = Tensor::from_vector<float>({1000.f, 0.f, -1000.f}, {1, 3});
  Tensor t = Tensor::from_vector<int64_t>({0}, {1});
  CHECK(cross_entropy(big, t).item() == doctest::Approx(0.0).epsilon(1e-6));
  Tensor t2 = Tensor::from_vector<int64_t>({2}, {1});
  CHECK(cross_entropy(big, t2).item() == doctest::Approx(2000.0).epsilon(1e-6));
  Tensor all_ignored = Tensor::from_vector<int64_t>({-100}, {1});
  CHECK(std::isnan(cross_entropy(big, all_ignored).item()));
  Tensor bad = Tensor::from_vector<int64_t>({0, 3}, {2});
  CHECK_THROWS_WITH_AS(cross_entropy(Tensor::zeros({2, 3}), bad), doctest::Contains("target 3 of row 1 is not a class"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(Tensor::zeros({2, 3}), Tensor::zeros({3}, DType::i64)), doctest::Contains("targets must be [2]"), Error);
  CrossEntropyOptions opt;
  opt.weight = Tensor::ones({4});
  CHECK_THROWS_WITH_AS(cross_entropy(Tensor::zeros({2, 3}), Tensor::zeros({2}, DType::i64), opt), doctest::Contains("weight must be [3]"), Error);
}
