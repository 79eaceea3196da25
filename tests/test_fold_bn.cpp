// Batch norm folded into the preceding conv (nn::fold_batch_norm): eval outputs equal the unfolded model's (whose
// eval forward test_model_equality checks against torchvision) for every registered model, with non-trivial running
// statistics and affine parameters; training mode and the state_dict are untouched.
#include <doctest/doctest.h>

#include <cmath>

#include "fer/nn/fold_bn.hpp"
#include "models/registry.hpp"
#include "rel_l2.hpp"

using namespace fer;
using fer::testing::rel_l2;

namespace {

// Running statistics (and affine parameters) far from the 0/1 initialization, so folding has something to fold.
void randomize_batch_norms(nn::Module& model, Generator& gen, bool affine_too = true) {
  for (auto& [name, m] : model.named_modules()) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(m);
    if (!bn) continue;
    for (int64_t c = 0; c < bn->running_mean.numel(); ++c) {
      bn->running_mean.set_flat(c, 0.2 * gen.normal());
      bn->running_var.set_flat(c, gen.uniform(0.5, 2.0));
      if (!affine_too) continue;
      bn->weight.set_flat(c, gen.uniform(0.5, 1.5));
      bn->bias.set_flat(c, 0.2 * gen.normal());
    }
  }
}

int64_t count_batch_norms(nn::Module& model) {
  int64_t n = 0;
  for (auto& [name, m] : model.named_modules()) n += dynamic_cast<nn::BatchNorm2d*>(m) != nullptr;
  return n;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (!(a.shape() == b.shape())) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (a.flat(i) != b.flat(i)) return false;
  return true;
}

}  // namespace

TEST_CASE("folded conv -> BN pairs give the unfolded eval outputs for every registered model (64 px)") {
  for (const auto& name : models::model_names()) {
    CAPTURE(name);
    Generator gen(17);
    auto m = models::make_model(name, 7, 64, gen);
    randomize_batch_norms(*m, gen);
    m->eval();
    InferenceGuard guard;
    Tensor x = Tensor::randn({1, 64, 64, 3}, DType::f32, gen);
    Tensor want = m->forward(x).clone();
    auto before = m->state_dict();
    for (auto& [key, t] : before) t = t.clone();  // plain entries share the model's storage
    int64_t folded = nn::fold_batch_norm(*m);
    Tensor got = m->forward(x);
    MESSAGE("rel-L2 folded vs unfolded: ", rel_l2(got, want));
    CHECK(rel_l2(got, want) <= 1e-5);
    // Which pairs fold: every BN of the models built from conv -> BN pairs; DenseNet's norm0 and each dense layer's
    // norm2 (the others are pre-activation BN -> ReLU -> conv); none where no model code opts in.
    const int64_t bns = count_batch_norms(*m);
    if (name == "custom_cnn" || name == "resnet18" || name == "resnet50" || name == "efficientnet_b0" ||
        name.rfind("mobilenet_v3", 0) == 0)
      CHECK(folded == bns);
    else if (name == "densenet121")
      CHECK(folded == 1 + (6 + 12 + 24 + 16));
    else
      CHECK(folded == 0);
    // The parameters and buffers are not changed by folding.
    const auto after = m->state_dict();
    REQUIRE(after.size() == before.size());
    for (size_t i = 0; i < after.size(); ++i) CHECK(same_values(after[i].second, before[i].second));
    nn::unfold_batch_norm(*m);
    CHECK(same_values(m->forward(x), want));
  }
}

TEST_CASE("folding also reaches the backbone under a hidden head, and training mode runs conv and BN apart") {
  Generator gen(3);
  auto m = models::make_model("resnet18", 7, 64, gen, /*hidden_head=*/32, /*head_dropout=*/0.0);
  randomize_batch_norms(*m, gen);
  CHECK(nn::fold_batch_norm(*m) == count_batch_norms(*m));
  Tensor x = Tensor::randn({4, 32, 32, 3}, DType::f32, gen);
  // Training mode: batch statistics normalize and the running ones move, exactly as unfolded.
  m->train();
  Tensor folded_train = m->forward(x).detach().clone();
  auto stats = m->named_buffers();
  nn::unfold_batch_norm(*m);
  randomize_batch_norms(*m, gen, false);  // other running statistics: batch statistics must not depend on them
  Tensor plain_train = m->forward(x).detach();
  CHECK(rel_l2(folded_train, plain_train) < 1e-6);
  int64_t tracked = 0;
  for (auto& [name, t] : stats)
    if (name.size() > 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0) tracked += t.flat(0) == 2;
  CHECK(tracked == count_batch_norms(*m));  // both training forwards updated every BN
  {
    nn::FoldedBatchNormScope scope(*m);  // an evaluation inside training folds for its duration only
    for (nn::ConvBnFold* p : nn::conv_bn_folds_of(*m)) CHECK(p->folded());
  }
  for (nn::ConvBnFold* p : nn::conv_bn_folds_of(*m)) CHECK_FALSE(p->folded());
}

TEST_CASE("a BN without running statistics is not folded") {
  nn::Conv2d conv(3, 4, 3, 1, 1, 1, 1, false);
  nn::BatchNorm2d bn(4, 1e-5, 0.1, true, /*track_running_stats=*/false);
  nn::ConvBnFold pair(conv, bn);
  CHECK_FALSE(pair.foldable());
  CHECK_THROWS_WITH_AS(pair.fold(), doctest::Contains("cannot be folded"), Error);
}
