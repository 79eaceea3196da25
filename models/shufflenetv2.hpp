#pragma once
// ShuffleNetV2 x0.5/x1.0 as torchvision 0.14 builds them: conv1 (3x3/2) + max pool, stages 2-4 of inverted
// residual units (split, branch, concat, channel shuffle), conv5 (1x1), global mean, fc. PyTorch default inits.
#include "models/blocks.hpp"
#include "models/shufflenetv2_spec.hpp"

namespace fer::models {

class ShuffleUnit : public nn::Layer {
 public:
  nn::Sequential branch1, branch2;
  ShuffleUnit(int64_t in, int64_t out, int64_t stride, Generator& gen) : stride_(stride) {
    int64_t bf = out / 2;
    if (stride > 1) {
      branch1.emplace<nn::Conv2d>(in, in, 3, stride, 1, 1, in, false, gen);
      branch1.emplace<nn::BatchNorm2d>(in);
      branch1.emplace<nn::Conv2d>(in, bf, 1, 1, 0, 1, 1, false, gen);
      branch1.emplace<nn::BatchNorm2d>(bf);
      branch1.emplace<nn::ReLU>();
    }
    branch2.emplace<nn::Conv2d>(stride > 1 ? in : bf, bf, 1, 1, 0, 1, 1, false, gen);
    branch2.emplace<nn::BatchNorm2d>(bf);
    branch2.emplace<nn::ReLU>();
    branch2.emplace<nn::Conv2d>(bf, bf, 3, stride, 1, 1, bf, false, gen);
    branch2.emplace<nn::BatchNorm2d>(bf);
    branch2.emplace<nn::Conv2d>(bf, bf, 1, 1, 0, 1, 1, false, gen);
    branch2.emplace<nn::BatchNorm2d>(bf);
    branch2.emplace<nn::ReLU>();
    register_module("branch1", branch1);
    register_module("branch2", branch2);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y;
    if (stride_ == 1) {
      auto halves = chunk(x, 2, -1);
      y = concat({halves[0], branch2(halves[1])}, -1);
    } else {
      y = concat({branch1(x), branch2(x)}, -1);
    }
    return channel_shuffle(y, 2);
  }

 private:
  int64_t stride_;
};

class ShuffleNetV2 : public nn::Layer {
 public:
  nn::Sequential conv1, conv5;
  std::shared_ptr<nn::Sequential> stages[3];
  std::shared_ptr<nn::Linear> fc;
  ShuffleNetV2(const ShuffleNetV2Spec& spec, int64_t num_classes, Generator& gen = default_generator()) {
    int64_t in = spec.out_channels[0];
    conv1.emplace<nn::Conv2d>(3, in, 3, 2, 1, 1, 1, false, gen);
    conv1.emplace<nn::BatchNorm2d>(in);
    conv1.emplace<nn::ReLU>();
    register_module("conv1", conv1);
    for (int s = 0; s < 3; ++s) {
      stages[s] = std::make_shared<nn::Sequential>();
      int64_t out = spec.out_channels[size_t(s + 1)];
      for (int64_t u = 0; u < ShuffleNetV2Spec::repeats[size_t(s)]; ++u)
        stages[s]->push_back(std::make_shared<ShuffleUnit>(u == 0 ? in : out, out, u == 0 ? 2 : 1, gen));
      in = out;
      register_module("stage" + std::to_string(s + 2), stages[s]);
    }
    conv5.emplace<nn::Conv2d>(in, spec.out_channels[4], 1, 1, 0, 1, 1, false, gen);
    conv5.emplace<nn::BatchNorm2d>(spec.out_channels[4]);
    conv5.emplace<nn::ReLU>();
    register_module("conv5", conv5);
    fc = std::make_shared<nn::Linear>(spec.out_channels[4], num_classes, true, gen);
    register_module("fc", fc);
  }
  Tensor features_of(const Tensor& x) {
    Tensor h = max_pool2d(conv1(x), Pool2dParams::make(3, 2, 1));
    for (auto& s : stages) h = (*s)(h);
    return mean(conv5(h), {1, 2});
  }
  Tensor forward(const Tensor& x) override { return (*fc)(features_of(x)); }
};

}  // namespace fer::models
