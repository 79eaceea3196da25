// The custom CNN (models/custom_cnn.hpp) and the nn layers it is built from: PyTorch's parameter count and
// state_dict keys, logits equal to its PyTorch twin on formula weights, recorded steps equal to eager ones,
// training reduces the loss, and a short Fashion-MNIST run (the train_sweep demo's smoke test) beats chance.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "fer/data/fashion_mnist.hpp"
#include "fer/data/sampling.hpp"
#include "fer/ops/loss.hpp"
#include "fer/optim/adam.hpp"
#include "gradcheck.hpp"
#include "models/custom_cnn.hpp"

using namespace fer;

namespace {

// h(i, e) of tools/make_custom_cnn_fixture.py: an integer hash mapped to [-0.5, 0.5).
double hashed(int64_t i, int64_t e) {
  uint64_t v = (uint64_t(i + 7919 * e) * 2654435761ull) % (1ull << 32);
  return double(v) / 4294967296.0 - 0.5;
}

// The fixture's formula state dict, in PyTorch names and layouts (f64).
nn::StateDict formula_state(const nn::Module& model) {
  nn::StateDict sd = model.state_dict();
  for (size_t e = 0; e < sd.size(); ++e) {
    auto& [key, t] = sd[e];
    Tensor v = Tensor::empty(t.shape(), t.dtype() == DType::i64 ? DType::i64 : DType::f64);
    std::string leaf = key.substr(key.rfind('.') + 1);
    bool bn = key.find("features.1.") == 0 || key.find("features.5.") == 0 || key.find("features.9.") == 0;
    int64_t fan_in = t.dim() >= 2 ? t.numel() / t.size(0) : 1;
    for (int64_t i = 0; i < v.numel(); ++i) {
      double s = hashed(i, int64_t(e)), x;
      if (leaf == "num_batches_tracked") x = 0;
      else if (bn && leaf == "weight") x = 1 + 0.4 * s;
      else if (bn && leaf == "running_var") x = 1 + 2 * s * s;
      else if (bn) x = 0.2 * s;  // bias, running_mean
      else if (leaf == "weight") x = 3.4 * s / std::sqrt(double(fan_in));
      else x = 0.2 * s;
      v.set_flat(i, x);
    }
    t = v;
  }
  return sd;
}

// The fixture's NCHW input 2 h(i, 1000), laid out NHWC.
Tensor formula_input(int64_t n, int64_t s) {
  Tensor x = Tensor::empty({n, s, s, 3});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < s; ++y)
        for (int64_t xx = 0; xx < s; ++xx)
          x.set_flat(((b * s + y) * s + xx) * 3 + c, 2 * hashed(((b * 3 + c) * s + y) * s + xx, 1000));
  return x;
}

// n random 48x48 images (NHWC) with labels 0, 1, ..., classes - 1, 0, 1, ...
struct Batch {
  Tensor images, labels;
};
Batch random_batch(int64_t n, int64_t classes, uint64_t seed) {
  Generator gen(seed);
  Batch b{Tensor::randn({n, 48, 48, 3}, DType::f32, gen), Tensor::empty({n}, DType::i64)};
  for (int64_t i = 0; i < n; ++i) b.labels.set_flat(i, double(i % classes));
  return b;
}

// Largest |got - ref| over ref's largest magnitude (at least 1e-6); NaN when a difference is NaN.
double diff_over_largest(const Tensor& got, const Tensor& ref) {
  double scale = 1e-6;
  for (int64_t i = 0; i < ref.numel(); ++i) scale = std::max(scale, std::abs(ref.flat(i)));
  return fer::testing::max_abs_diff(got, ref) / scale;
}

// Every parameter gradient of `b` equals `a`'s within 1e-5 of a's largest magnitude.
void check_same_gradients(const nn::Module& a, const nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    CAPTURE(pa[i].first);
    REQUIRE(pa[i].second.grad().defined());
    REQUIRE(pb[i].second.grad().defined());
    CHECK(diff_over_largest(pb[i].second.grad(), pa[i].second.grad()) <= 1e-5);
  }
}

}  // namespace

TEST_CASE("custom CNN: PyTorch's parameter count, state_dict keys and output shape") {
  Generator gen(1);
  models::CustomCnn model(10, 48, gen);
  // 320138: sum(p.numel() for p in twin.parameters()) with /usr/bin/python3 (tools/make_custom_cnn_fixture.py's twin).
  CHECK(model.num_parameters() == 320138);
  CHECK(model.num_parameters() == models::CustomCnnSpec::param_count(10));
  CHECK(models::CustomCnn(7, 48, gen).num_parameters() == 319751);
  std::vector<std::string> keys;
  for (auto& [k, t] : model.state_dict()) keys.push_back(k);
  // list(twin.state_dict().keys()) in PyTorch 1.13.
  std::vector<std::string> torch_keys = {
      "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias", "features.1.running_mean",
      "features.1.running_var", "features.1.num_batches_tracked", "features.4.weight", "features.4.bias",
      "features.5.weight", "features.5.bias", "features.5.running_mean", "features.5.running_var",
      "features.5.num_batches_tracked", "features.8.weight", "features.8.bias", "features.9.weight", "features.9.bias",
      "features.9.running_mean", "features.9.running_var", "features.9.num_batches_tracked", "classifier.1.weight",
      "classifier.1.bias", "classifier.4.weight", "classifier.4.bias"};
  CHECK(keys == torch_keys);
  CHECK(model.state_dict()[0].second.shape() == Shape{16, 3, 3, 3});  // exported OIHW
  CHECK(model.features.size() == 12);
  CHECK(model.classifier.size() == 5);

  Tensor y = model(Tensor::zeros({5, 48, 48, 3}));
  CHECK(y.shape() == Shape{5, 10});
  CHECK_THROWS_WITH_AS(model(Tensor::zeros({5, 3, 48, 48})), doctest::Contains("CustomCnn: expected images"), fer::Error);
  CHECK_THROWS_AS(models::CustomCnn(10, 50), fer::Error);
  // PyTorch's default init bounds: conv1 weight U(+-1/sqrt(27)), BN weight ones.
  double bound = 1 / std::sqrt(27.0), worst = 0;
  for (double v : model.features[0].named_parameters()[0].second.to_vector()) worst = std::max(worst, std::abs(v));
  CHECK(worst <= bound);
  CHECK(worst > 0.9 * bound);
}

TEST_CASE("custom CNN equals its PyTorch twin (eval mode, formula weights) and loads its names 1:1") {
  Generator gen(2);
  models::CustomCnn model(10, 48, gen);
  nn::LoadReport report = model.load_state_dict(formula_state(model));
  CHECK(report.loaded.size() == 25);
  model.eval();
  Tensor y = model(formula_input(2, 48));
  // Printed by /usr/bin/python3 tools/make_custom_cnn_fixture.py (float64; the model here runs in f32). The
  // logits move by up to 0.044 when Flatten uses NHWC instead of NCHW order, so 1e-4 tells the two apart.
  std::vector<double> expect = {
      -0.18079681720774882, -0.1469299672142856, -0.21459282330941198, -0.05001099066570365, -0.04717516582622541,
      -0.021529187963524862, 0.21223225283807315, 0.2516931569169061, 0.06096588127889191, -0.017866852621692113,
      -0.14152439082936694, -0.08817354939489777, -0.21263257763363258, -0.10435792898095285, -0.08188507062411027,
      -0.04382886201606072, 0.2043517193133516, 0.2543573501688334, 0.0650809763896395, -0.0058832500585223844};
  REQUIRE(y.numel() == 20);
  double worst = 0;
  for (int64_t i = 0; i < 20; ++i) worst = std::max(worst, std::abs(y.flat(i) - expect[size_t(i)]));
  CAPTURE(worst);
  CHECK(worst < 1e-4);
}

TEST_CASE("custom CNN: a recorded training step equals the eager one, and Adam steps reduce the loss") {
  Generator init(3);
  const auto [x, labels] = random_batch(8, 10, 4);

  // Eager and recorded forward + backward from the same weights, dropout off (p is fixed by the model, so eval
  // the classifier only) and BatchNorm in training mode: same loss, same gradients.
  models::CustomCnn eager(10, 48, init), recorded(10, 48, init);
  recorded.load_state_dict(eager.state_dict());
  eager.classifier.eval();
  recorded.classifier.eval();
  Tensor loss_eager = cross_entropy(eager(x), labels);
  backward(loss_eager);
  Graph g = Graph::capture([&] { return cross_entropy(recorded(x), labels); });
  g.forward();  // replays BatchNorm's running-stat update a second time: only the buffers differ, not the loss
  g.backward();
  CHECK(g.output().item() == doctest::Approx(loss_eager.item()).epsilon(1e-6));
  check_same_gradients(eager, recorded);

  // Ten Adam steps on the fixed batch through the recorded graph: the loss falls well below its start.
  recorded.train();
  optim::Adam opt(recorded.parameters(), optim::AdamOptions{});
  Graph step = Graph::capture([&] { return cross_entropy(recorded(x), labels); });
  double first = 0, last = 0;
  for (int s = 0; s < 10; ++s) {
    opt.zero_grad();
    step.forward();
    step.backward();
    opt.step();
    (s == 0 ? first : last) = step.output().item();
  }
  CAPTURE(first);
  CAPTURE(last);
  CHECK(last < 0.5 * first);
}

TEST_CASE("custom CNN: fused BN + ReLU blocks (training) and folded ones (eval) equal the module-by-module run") {
  Generator init(5);
  const auto [x, labels] = random_batch(8, 7, 6);
  models::CustomCnn fused(7, 48, init), plain(7, 48, init);
  plain.load_state_dict(fused.state_dict());
  // A hook on a child (here a pass-through on the first ReLU) makes the blocks run module by module.
  int hook_calls = 0;
  plain.features[2].set_forward_hook([&](const Tensor&, const Tensor& out) {
    ++hook_calls;
    return out;
  });
  fused.classifier.eval();
  plain.classifier.eval();
  Tensor loss_fused = cross_entropy(fused(x), labels);
  backward(loss_fused);  // (one recorded graph at a time: backward consumes the tape)
  Tensor loss_plain = cross_entropy(plain(x), labels);
  backward(loss_plain);
  CHECK(hook_calls == 1);
  CHECK(loss_fused.item() == doctest::Approx(loss_plain.item()).epsilon(1e-6));
  check_same_gradients(fused, plain);
  // The running statistics moved the same way.
  auto bf = fused.state_dict(), bp = plain.state_dict();
  for (size_t i = 0; i < bf.size(); ++i)
    if (bf[i].first.find("running_") != std::string::npos) {
      CAPTURE(bf[i].first);
      std::vector<double> a = bf[i].second.to_vector(), b = bp[i].second.to_vector();
      for (size_t k = 0; k < a.size(); ++k) CHECK(a[k] == doctest::Approx(b[k]).epsilon(1e-5));
    }

  // Eval: the three conv -> BN pairs fold; the hooked twin still runs them apart.
  fused.eval();
  plain.eval();
  InferenceGuard guard;
  CHECK(nn::fold_batch_norm(fused) == 3);
  CHECK(nn::fold_batch_norm(plain) == 3);
  CHECK(diff_over_largest(fused(x), plain(x)) <= 1e-5);
}

TEST_CASE("custom CNN on 2000 Fashion-MNIST images for one epoch beats chance (train_sweep smoke test)") {
  if (!std::filesystem::exists(std::string(data::kFashionMnistRoot) + "/train-images-idx3-ubyte.gz")) {
    MESSAGE("SKIPPED: ", data::kFashionMnistRoot, " not found (apt install dataset-fashion-mnist)");
    return;
  }
  using Split = data::FashionMnist::Split;
  data::FashionMnist train(Split::train), test(Split::test);
  train.truncate(2000);
  test.truncate(1000);
  Generator gen(5);
  models::CustomCnn model(10, 48, gen);
  optim::Adam opt(model.parameters(), optim::AdamOptions{});
  const int64_t batch = 64;
  Tensor x = Tensor::empty({batch, 48, 48, 3}), y = Tensor::empty({batch}, DType::i64);
  std::vector<int64_t> order = data::ShuffleSampler(train.size(), 5).epoch(0);
  auto batches = data::batch_spans(order, batch, true);
  // As train_sweep does: the recording is the first batch's forward, later batches replay it.
  train.fill_batch(batches[0], x, y);
  Graph step = Graph::capture([&] { return cross_entropy(model(x), y); });
  double first_losses = 0, last_losses = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    if (b > 0) {
      train.fill_batch(batches[b], x, y);
      step.forward();
    }
    opt.zero_grad();
    step.backward();
    opt.step();
    if (b < 5) first_losses += step.output().item();
    if (b >= batches.size() - 5) last_losses += step.output().item();
  }
  CAPTURE(first_losses / 5);
  CAPTURE(last_losses / 5);
  CHECK(last_losses < 0.7 * first_losses);

  model.eval();
  NoGradGuard no_grad;
  int64_t correct = 0;
  std::vector<int64_t> idx(size_t(test.size()));
  for (int64_t i = 0; i < test.size(); ++i) idx[size_t(i)] = i;
  for (auto chunk : data::batch_spans(idx, 250, false)) {
    auto [images, labels] = test.batch(chunk);
    Tensor logits = model(images);
    for (int64_t i = 0; i < logits.size(0); ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < 10; ++c)
        if (logits.at(i, c) > logits.at(i, best)) best = c;
      correct += best == int64_t(labels.flat(i));
    }
  }
  double accuracy = double(correct) / double(test.size());
  MESSAGE("custom CNN, 2000 images, 1 epoch: test accuracy on 1000 images ", accuracy);
  CHECK(accuracy > 0.5);  // chance is 0.1; this run typically reaches ~0.7
}
