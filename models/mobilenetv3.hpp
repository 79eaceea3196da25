#pragma once
// MobileNetV3-Large/-Small as torchvision 0.14 builds them: features (stem, inverted residual blocks with optional
// squeeze-excitation and hardswish, last 1x1 conv), average pool, classifier Linear-Hardswish-Dropout-Linear.
// BatchNorm eps 1e-3, momentum 0.01. Initialization as torchvision.
#include "models/blocks.hpp"
#include "models/mobilenetv3_spec.hpp"

namespace fer::models {

class MobileNetV3Block : public nn::Layer {
 public:
  nn::Sequential block;
  MobileNetV3Block(const InvertedResidualSpec& s, double eps, double momentum, Generator& gen)
      : residual_(s.stride == 1 && s.in == s.out) {
    nn::Activation act = s.hardswish ? nn::Activation::hardswish : nn::Activation::relu;
    ConvNormActOptions o{1, 1, act, eps, momentum};
    if (s.expanded != s.in) block.push_back(conv_norm_act(s.in, s.expanded, 1, o, gen));
    ConvNormActOptions dw{s.stride, s.expanded, act, eps, momentum};
    block.push_back(conv_norm_act(s.expanded, s.expanded, s.kernel, dw, gen));
    if (s.se)
      block.push_back(std::make_shared<SqueezeExcitation>(s.expanded, se_squeeze_channels(s.expanded), nn::Activation::relu,
                                                          nn::Activation::hardsigmoid, gen));
    ConvNormActOptions proj{1, 1, std::nullopt, eps, momentum};
    block.push_back(conv_norm_act(s.expanded, s.out, 1, proj, gen));
    register_module("block", block);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = block(x);
    return residual_ ? add(y, x) : y;
  }

 private:
  bool residual_;
};

class MobileNetV3 : public nn::Layer {
 public:
  nn::Sequential features, classifier;

  template <size_t N>
  MobileNetV3(const MobileNetV3Spec<N>& spec, int64_t num_classes, Generator& gen = default_generator()) {
    double eps = spec.bn_eps, mom = spec.bn_momentum;
    features.push_back(conv_norm_act(3, spec.stem, 3, {2, 1, nn::Activation::hardswish, eps, mom}, gen));
    for (const auto& b : spec.blocks) features.push_back(std::make_shared<MobileNetV3Block>(b, eps, mom, gen));
    features.push_back(conv_norm_act(spec.blocks.back().out, spec.last_conv(), 1, {1, 1, nn::Activation::hardswish, eps, mom}, gen));
    auto& fc1 = classifier.emplace<nn::Linear>(spec.last_conv(), spec.last_channel, true, gen);
    classifier.emplace<nn::Hardswish>();
    classifier.emplace<nn::Dropout>(spec.dropout);
    auto& fc2 = classifier.emplace<nn::Linear>(spec.last_channel, num_classes, true, gen);
    for (nn::Linear* l : {&fc1, &fc2}) nn::init::normal_(l->weight, 0.0, 0.01, gen), nn::init::zeros_(l->bias);
    register_module("features", features);
    register_module("classifier", classifier);
  }
  Tensor features_of(const Tensor& x) { return flatten(adaptive_avg_pool2d(features(x), 1, 1)); }
  Tensor forward(const Tensor& x) override { return classifier(features_of(x)); }
};

}  // namespace fer::models
