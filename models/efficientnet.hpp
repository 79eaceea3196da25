#pragma once
// EfficientNet-B0 as torchvision 0.14 builds it: stem, seven MBConv stages (squeeze-excitation with SiLU,
// stochastic depth rising linearly to 0.2 over the 16 blocks), a 1x1 conv to 1280, average pool, Dropout(0.2) and
// Linear. Initialization as torchvision (linear weights uniform +-1/sqrt(out_features)).
#include "models/blocks.hpp"
#include "models/efficientnet_spec.hpp"

namespace fer::models {

class MBConv : public nn::Layer {
 public:
  nn::Sequential block;
  std::shared_ptr<StochasticDepth> drop;
  MBConv(int64_t in, int64_t out, int64_t expand, int64_t kernel, int64_t stride, double sd_prob, double eps, Generator& gen)
      : residual_(stride == 1 && in == out) {
    int64_t exp = in * expand;
    const nn::Activation silu = nn::Activation::silu;
    if (exp != in) block.push_back(conv_norm_act(in, exp, 1, {1, 1, silu, eps, 0.1}, gen));
    block.push_back(conv_norm_act(exp, exp, kernel, {stride, exp, silu, eps, 0.1}, gen));
    block.push_back(std::make_shared<SqueezeExcitation>(exp, std::max<int64_t>(1, in / 4), silu, nn::Activation::sigmoid, gen));
    block.push_back(conv_norm_act(exp, out, 1, {1, 1, std::nullopt, eps, 0.1}, gen));
    register_module("block", block);
    drop = std::make_shared<StochasticDepth>(sd_prob);
    register_module("stochastic_depth", drop);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = block(x);
    return residual_ ? add(drop->forward(y), x) : y;
  }

 private:
  bool residual_;
};

class EfficientNet : public nn::Layer {
 public:
  nn::Sequential features, classifier;
  EfficientNet(const EfficientNetSpec& spec, int64_t num_classes, Generator& gen = default_generator()) {
    double eps = spec.bn_eps;
    features.push_back(conv_norm_act(3, spec.stem, 3, {2, 1, nn::Activation::silu, eps, 0.1}, gen));
    int64_t id = 0, total = spec.total_blocks();
    for (const auto& st : spec.stages) {
      auto stage = std::make_shared<nn::Sequential>();
      for (int64_t b = 0; b < st.layers; ++b, ++id)
        stage->push_back(std::make_shared<MBConv>(b == 0 ? st.in : st.out, st.out, st.expand_ratio, st.kernel,
                                                  b == 0 ? st.stride : 1, spec.stochastic_depth_prob * double(id) / double(total),
                                                  eps, gen));
      features.push_back(stage);
    }
    features.push_back(conv_norm_act(spec.stages.back().out, spec.last_channels, 1, {1, 1, nn::Activation::silu, eps, 0.1}, gen));
    classifier.emplace<nn::Dropout>(spec.dropout);
    auto& fc = classifier.emplace<nn::Linear>(spec.last_channels, num_classes, true, gen);
    double range = 1.0 / std::sqrt(double(num_classes));
    nn::init::uniform_(fc.weight, -range, range, gen);
    nn::init::zeros_(fc.bias);
    register_module("features", features);
    register_module("classifier", classifier);
  }
  Tensor features_of(const Tensor& x) { return flatten(adaptive_avg_pool2d(features(x), 1, 1)); }
  Tensor forward(const Tensor& x) override { return classifier(features_of(x)); }
};

}  // namespace fer::models
