#pragma once
// ConvNeXt-Tiny as torchvision 0.14 builds it: a 4x4/4 patchify stem with LayerNorm2d, four stages of CNBlocks
// (depthwise 7x7, LayerNorm, Linear 4x, GELU, Linear, layer scale, stochastic depth rising to 0.1) joined by
// LayerNorm2d + 2x2/2 convs, then average pool, LayerNorm2d, Flatten, Linear. In NHWC the channels are already
// last, so torchvision's Permute modules are identities. Initialization: trunc_normal(std 0.02), bias 0.
#include "models/blocks.hpp"
#include "models/convnext_spec.hpp"

namespace fer::models {

inline void init_trunc_normal(const Tensor& w, const Tensor& b, Generator& gen) {
  nn::init::trunc_normal_(w, 0.0, 0.02, -2.0, 2.0, gen);
  if (b.defined()) nn::init::zeros_(b);
}

class CNBlock : public nn::Layer {
 public:
  Tensor layer_scale;  // [dim, 1, 1] as torchvision stores it
  nn::Sequential block;
  std::shared_ptr<StochasticDepth> drop;
  CNBlock(int64_t dim, double layer_scale_init, double sd_prob, Generator& gen) : dim_(dim) {
    layer_scale = Tensor::full({dim, 1, 1}, layer_scale_init);
    register_parameter("layer_scale", layer_scale);
    auto& dw = block.emplace<nn::Conv2d>(dim, dim, 7, 1, 3, 1, dim, true, gen);
    init_trunc_normal(dw.weight, dw.bias, gen);
    block.emplace<Passthrough>();
    block.emplace<LayerNormChannels>(dim, 1e-6);
    auto& l1 = block.emplace<nn::Linear>(dim, 4 * dim, true, gen);
    block.emplace<nn::GELU>();
    auto& l2 = block.emplace<nn::Linear>(4 * dim, dim, true, gen);
    block.emplace<Passthrough>();
    init_trunc_normal(l1.weight, l1.bias, gen), init_trunc_normal(l2.weight, l2.bias, gen);
    register_module("block", block);
    drop = std::make_shared<StochasticDepth>(sd_prob);
    register_module("stochastic_depth", drop);
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = mul(block(x), reshape(layer_scale, {dim_}));
    return add(drop->forward(y), x);
  }

 private:
  int64_t dim_;
};

class ConvNeXt : public nn::Layer {
 public:
  nn::Sequential features, classifier;
  ConvNeXt(const ConvNeXtSpec& s, int64_t num_classes, Generator& gen = default_generator()) {
    auto stem = std::make_shared<nn::Sequential>();
    auto& sc = stem->emplace<nn::Conv2d>(3, s.dims[0], 4, 4, 0, 1, 1, true, gen);
    init_trunc_normal(sc.weight, sc.bias, gen);
    stem->emplace<LayerNormChannels>(s.dims[0], 1e-6);
    features.push_back(stem);
    int64_t id = 0, total = s.total_blocks();
    for (int st = 0; st < 4; ++st) {
      auto stage = std::make_shared<nn::Sequential>();
      for (int64_t b = 0; b < s.depths[size_t(st)]; ++b, ++id)
        stage->push_back(std::make_shared<CNBlock>(s.dims[size_t(st)], s.layer_scale,
                                                   s.stochastic_depth_prob * double(id) / double(total - 1), gen));
      features.push_back(stage);
      if (st != 3) {
        auto down = std::make_shared<nn::Sequential>();
        down->emplace<LayerNormChannels>(s.dims[size_t(st)], 1e-6);
        auto& dc = down->emplace<nn::Conv2d>(s.dims[size_t(st)], s.dims[size_t(st + 1)], 2, 2, 0, 1, 1, true, gen);
        init_trunc_normal(dc.weight, dc.bias, gen);
        features.push_back(down);
      }
    }
    classifier.emplace<LayerNormChannels>(s.dims[3], 1e-6);
    classifier.emplace<nn::Flatten>();
    auto& fc = classifier.emplace<nn::Linear>(s.dims[3], num_classes, true, gen);
    init_trunc_normal(fc.weight, fc.bias, gen);
    register_module("features", features);
    register_module("classifier", classifier);
  }
  Tensor forward(const Tensor& x) override { return classifier(adaptive_avg_pool2d(features(x), 1, 1)); }
};

}  // namespace fer::models
