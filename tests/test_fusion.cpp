// Training-time fusions against the sequences they replace, on whole models over two recorded (Graph::capture) and
// replayed training steps with SGD in between: ResNet's fused BN + residual add + ReLU (nn::fuse_bn_add_relu) and
// DenseNet's blocks grown in one buffer (models::densenet_in_place) give the same losses, parameter gradients,
// updated parameters and running statistics as relu(add(bn(x), identity)) and a concatenation per layer; an eager
// step agrees too. The ops themselves: test_norm (fused op against the unfused one) and the op table (gradchecks of
// batch_norm_add_relu, write_channels and batch norm reading a channel prefix).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "fer/autograd/tape.hpp"
#include "fer/nn/bn_relu.hpp"
#include "fer/ops/loss.hpp"
#include "fer/optim/sgd.hpp"
#include "models/densenet.hpp"
#include "models/registry.hpp"

using namespace fer;

namespace {

struct StepRecord {
  std::vector<double> losses;
  std::vector<Tensor> grads;    // every parameter's gradient after the last step's backward
  std::vector<Tensor> params;   // and its value after the last SGD step
  std::vector<Tensor> buffers;  // running statistics, num_batches_tracked
};

// Two recorded-and-replayed training steps (eager: two eager steps) of `name` at `size` px, batch 3.
StepRecord train_steps(const std::string& name, int64_t size, bool recorded) {
  Generator gen(3);
  auto model = models::make_model(name, 7, size, gen);
  model->train();
  const Tensor x = Tensor::rand({3, size, size, 3}, DType::f32, gen, -2, 2);
  const Tensor y = Tensor::from_vector(std::vector<int64_t>{1, 4, 6}, {3});
  optim::SgdOptions so;
  so.lr = 0.05;
  so.momentum = 0.9;
  optim::SGD opt(model->parameters(), so);
  opt.zero_grad();
  StepRecord r;
  if (recorded) {
    Graph g = Graph::capture([&] { return cross_entropy(model->forward(x), y); });
    for (int step = 0; step < 2; ++step) {
      if (step > 0) opt.zero_grad(), g.forward();
      r.losses.push_back(g.output().item());
      g.backward();
      if (step == 0) opt.step();
    }
  } else {
    for (int step = 0; step < 2; ++step) {
      if (step > 0) opt.zero_grad();
      Tensor loss = cross_entropy(model->forward(x), y);
      r.losses.push_back(loss.item());
      backward(loss);
      if (step == 0) opt.step();
    }
  }
  for (const Tensor& p : model->parameters()) r.grads.push_back(p.grad().clone());
  opt.step();
  for (const Tensor& p : model->parameters()) r.params.push_back(p.clone());
  for (auto& [key, b] : model->named_buffers()) r.buffers.push_back(b.clone());
  return r;
}

double max_diff(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    REQUIRE(a[k].shape() == b[k].shape());
    for (int64_t i = 0; i < a[k].numel(); ++i) d = std::max(d, std::abs(a[k].flat(i) - b[k].flat(i)));
  }
  return d;
}

// Runs `name` with the switch off and on (restoring it on) and checks both give the same step, bit for bit.
void check_same_steps(const std::string& name, int64_t size, const std::function<void(bool)>& set, bool recorded) {
  set(false);
  const StepRecord plain = train_steps(name, size, recorded);
  set(true);
  const StepRecord fused = train_steps(name, size, recorded);
  REQUIRE(plain.losses.size() == 2);
  CHECK(plain.losses[1] != plain.losses[0]);  // the SGD step changed the model
  CHECK(fused.losses == plain.losses);
  CHECK(max_diff(fused.grads, plain.grads) == 0.0);
  CHECK(max_diff(fused.params, plain.params) == 0.0);
  CHECK(max_diff(fused.buffers, plain.buffers) == 0.0);
  double grad_size = 0;  // gradients reached every parameter
  for (const Tensor& g : plain.grads) grad_size = std::max(grad_size, std::abs(g.flat(0)) + std::abs(g.flat(g.numel() - 1)));
  CHECK(grad_size > 0.0);
}

}  // namespace

TEST_CASE("ResNet-18: fused BN + residual add + ReLU trains exactly as relu(add(bn(x), identity))") {
  for (bool recorded : {true, false}) {
    CAPTURE(recorded);
    check_same_steps("resnet18", 32, nn::fuse_bn_add_relu, recorded);
  }
}

TEST_CASE("ResNet-50 (Bottleneck): fused BN + residual add + ReLU, recorded steps") {
  check_same_steps("resnet50", 32, nn::fuse_bn_add_relu, true);
}

TEST_CASE("DenseNet-121: blocks grown in one buffer train exactly as a concatenation per layer") {
  for (bool recorded : {true, false}) {
    CAPTURE(recorded);
    check_same_steps("densenet121", 32, models::densenet_in_place, recorded);
  }
}

TEST_CASE("DenseNet-121: in-place blocks in eval and without gradients give the concatenating blocks' outputs") {
  Generator gen(8);
  auto model = models::make_model("densenet121", 7, 48, gen);
  model->eval();
  const Tensor x = Tensor::rand({2, 48, 48, 3}, DType::f32, gen, -2, 2);
  NoGradGuard no_grad;
  models::densenet_in_place(false);
  const Tensor plain = model->forward(x);
  models::densenet_in_place(true);
  const Tensor in_place = model->forward(x);
  CHECK(max_diff({in_place}, {plain}) == 0.0);
}
