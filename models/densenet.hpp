#pragma once
// DenseNet-121 as torchvision 0.14 builds it: features (conv0/norm0/relu0/pool0, dense blocks of BN-ReLU-1x1-BN-
// ReLU-3x3 layers concatenating their growth, transitions BN-ReLU-1x1-avgpool, norm5), ReLU, average pool,
// classifier. Initialization as torchvision (kaiming_normal convs, BN 1/0, linear bias 0).
#include "models/blocks.hpp"
#include "models/densenet_spec.hpp"

namespace fer::models {

inline void init_densenet_conv(nn::Conv2d& c, Generator& gen) {
  nn::init::KaimingOptions o;
  o.nonlinearity = nn::init::Nonlinearity::relu;  // kaiming_normal_(w) defaults: fan_in, leaky_relu(a=0) = relu gain
  o.layout = nn::ParamLayout::conv_ohwi;
  nn::init::kaiming_normal_(c.weight, o, gen);
}

class DenseLayer : public nn::Layer, public nn::FoldsBatchNorm {
 public:
  std::shared_ptr<nn::BatchNorm2d> norm1, norm2;
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  DenseLayer(int64_t in, int64_t growth, int64_t bn_size, Generator& gen) {
    norm1 = std::make_shared<nn::BatchNorm2d>(in);
    conv1 = std::make_shared<nn::Conv2d>(in, bn_size * growth, 1, 1, 0, 1, 1, false, gen);
    norm2 = std::make_shared<nn::BatchNorm2d>(bn_size * growth);
    conv2 = std::make_shared<nn::Conv2d>(bn_size * growth, growth, 3, 1, 1, 1, 1, false, gen);
    init_densenet_conv(*conv1, gen), init_densenet_conv(*conv2, gen);
    register_module("norm1", norm1), register_module("conv1", conv1);
    register_module("norm2", norm2), register_module("conv2", conv2);
    conv1_norm2_ = nn::ConvBnFold(*conv1, *norm2);
  }
  Tensor forward(const Tensor& x) override {
    return conv2->forward(conv1_norm2_.forward_relu(nn::batch_norm_relu(*norm1, x)));  // BN + ReLU fused
  }
  // norm1 and norm2 are pre-activation (BN -> ReLU -> conv): only conv1 -> norm2 is a foldable pair.
  std::vector<nn::ConvBnFold*> conv_bn_folds() override { return {&conv1_norm2_}; }

 private:
  nn::ConvBnFold conv1_norm2_;
};

// Whether dense blocks grow their input in one preallocated buffer (default) or concatenate it anew for every layer
// (torchvision's way; the same values), for measuring.
inline bool& densenet_in_place_flag() {
  static bool on = true;
  return on;
}
inline void densenet_in_place(bool on) { densenet_in_place_flag() = on; }

class DenseBlock : public nn::Layer {
 public:
  std::vector<std::shared_ptr<DenseLayer>> layers;
  DenseBlock(int64_t num_layers, int64_t in, int64_t growth, int64_t bn_size, Generator& gen) : growth_(growth) {
    for (int64_t i = 0; i < num_layers; ++i) {
      layers.push_back(std::make_shared<DenseLayer>(in + i * growth, growth, bn_size, gen));
      register_module("denselayer" + std::to_string(i + 1), layers.back());
    }
  }
  Tensor forward(const Tensor& x) override {
    if (!densenet_in_place_flag()) {
      std::vector<Tensor> feats = {x};
      for (auto& l : layers) feats.push_back(l->forward(feats.size() == 1 ? feats[0] : concat(feats, -1)));
      return concat(feats, -1);
    }
    // One buffer [N, H, W, C_in + layers * growth]: each layer reads the channels written so far as a view (its
    // first BN reads the strided rows in place) and its growth lands in the next channels, so nothing is copied but
    // each layer's new channels; backward, the layers' input gradients add up in the buffer's gradient.
    ops_detail::require_rank("DenseBlock", x, 4, "input [N, H, W, C]");
    const int64_t c_final = x.size(3) + int64_t(layers.size()) * growth_;
    Tensor buf = write_channels(Tensor::empty({x.size(0), x.size(1), x.size(2), c_final}, x.dtype(), x.device()), x, 0);
    int64_t c = x.size(3);
    for (auto& l : layers) {
      const Tensor h = l->forward(channel_prefix(buf, c));
      write_channels(buf, h, c);
      c += h.size(3);
    }
    return buf;
  }

 private:
  int64_t growth_;
};

class Transition : public nn::Layer {
 public:
  std::shared_ptr<nn::BatchNorm2d> norm;
  std::shared_ptr<nn::Conv2d> conv;
  Transition(int64_t in, int64_t out, Generator& gen) {
    norm = std::make_shared<nn::BatchNorm2d>(in);
    conv = std::make_shared<nn::Conv2d>(in, out, 1, 1, 0, 1, 1, false, gen);
    init_densenet_conv(*conv, gen);
    register_module("norm", norm), register_module("conv", conv);
  }
  Tensor forward(const Tensor& x) override {
    return avg_pool2d(conv->forward(nn::batch_norm_relu(*norm, x)), Pool2dParams::make(2, 2));
  }
};

class DenseNet : public nn::Layer, public nn::FoldsBatchNorm {
 public:
  nn::Module features;
  std::shared_ptr<nn::Conv2d> conv0;
  std::shared_ptr<nn::BatchNorm2d> norm0, norm5;
  std::vector<std::shared_ptr<nn::Layer>> blocks;  // dense blocks and transitions in order
  std::shared_ptr<nn::Linear> classifier;
  DenseNet(const DenseNetSpec& s, int64_t num_classes, Generator& gen = default_generator()) {
    conv0 = std::make_shared<nn::Conv2d>(3, s.init_features, 7, 2, 3, 1, 1, false, gen);
    init_densenet_conv(*conv0, gen);
    norm0 = std::make_shared<nn::BatchNorm2d>(s.init_features);
    features.register_module("conv0", conv0);
    features.register_module("norm0", norm0);
    stem_ = nn::ConvBnFold(*conv0, *norm0);
    int64_t c = s.init_features;
    for (int b = 0; b < 4; ++b) {
      auto block = std::make_shared<DenseBlock>(s.block_layers[size_t(b)], c, s.growth_rate, s.bn_size, gen);
      features.register_module("denseblock" + std::to_string(b + 1), block);
      blocks.push_back(block);
      c += s.block_layers[size_t(b)] * s.growth_rate;
      if (b != 3) {
        auto t = std::make_shared<Transition>(c, c / 2, gen);
        features.register_module("transition" + std::to_string(b + 1), t);
        blocks.push_back(t);
        c /= 2;
      }
    }
    norm5 = std::make_shared<nn::BatchNorm2d>(c);
    features.register_module("norm5", norm5);
    register_module("features", features);
    classifier = std::make_shared<nn::Linear>(c, num_classes, true, gen);
    nn::init::zeros_(classifier->bias);
    register_module("classifier", classifier);
  }
  Tensor features_of(const Tensor& x) {
    Tensor h = max_pool2d(stem_.forward_relu(x), Pool2dParams::make(3, 2, 1));
    for (auto& b : blocks) h = b->forward(h);
    return flatten(adaptive_avg_pool2d(nn::batch_norm_relu(*norm5, h), 1, 1));
  }
  Tensor forward(const Tensor& x) override { return (*classifier)(features_of(x)); }
  std::vector<nn::ConvBnFold*> conv_bn_folds() override { return {&stem_}; }

 private:
  nn::ConvBnFold stem_;  // conv0 -> norm0
};

}  // namespace fer::models
