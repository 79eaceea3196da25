#pragma once
// ResNet-18 and ResNet-50 exactly as torchvision 0.14 builds them (state_dict names included): conv1/bn1/relu/
// maxpool, layer1..layer4 of BasicBlock or Bottleneck (stride on the 3x3 conv, downsample.0/.1 when the shape
// changes), global average pool, fc. Initialization as torchvision: convs kaiming_normal(fan_out, relu), BN 1/0.
#include <memory>

#include "fer/nn/fold_bn.hpp"
#include "fer/nn/init.hpp"
#include "fer/nn/layers.hpp"
#include "models/resnet_spec.hpp"

namespace fer::models {

namespace resnet_detail {

inline std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride, Generator& gen) {
  auto c = std::make_shared<nn::Conv2d>(in, out, k, stride, k / 2, 1, 1, false, gen);
  nn::init::KaimingOptions o;
  o.mode = nn::init::FanMode::fan_out;
  o.nonlinearity = nn::init::Nonlinearity::relu;
  o.layout = nn::ParamLayout::conv_ohwi;
  nn::init::kaiming_normal_(c->weight, o, gen);
  return c;
}

}  // namespace resnet_detail

// BasicBlock (expansion 1) or Bottleneck (expansion 4, torchvision's "ResNet V1.5": stride on the 3x3).
class ResNetBlock : public nn::Layer, public nn::FoldsBatchNorm {
 public:
  ResNetBlock(bool bottleneck, int64_t in, int64_t planes, int64_t stride, Generator& gen) : bottleneck_(bottleneck) {
    using resnet_detail::conv;
    int64_t out = planes * (bottleneck ? 4 : 1);
    if (bottleneck) {
      conv1 = conv(in, planes, 1, 1, gen), conv2 = conv(planes, planes, 3, stride, gen), conv3 = conv(planes, out, 1, 1, gen);
      bn3 = std::make_shared<nn::BatchNorm2d>(out);
    } else {
      conv1 = conv(in, planes, 3, stride, gen), conv2 = conv(planes, planes, 3, 1, gen);
    }
    bn1 = std::make_shared<nn::BatchNorm2d>(planes), bn2 = std::make_shared<nn::BatchNorm2d>(planes);
    register_module("conv1", conv1), register_module("bn1", bn1), register_module("conv2", conv2), register_module("bn2", bn2);
    if (bottleneck) register_module("conv3", conv3), register_module("bn3", bn3);
    if (stride != 1 || in != out) {
      downsample = std::make_shared<nn::Sequential>();
      auto dconv = downsample->push_back(conv(in, out, 1, stride, gen));
      fold_down_ = nn::ConvBnFold(*dconv, downsample->emplace<nn::BatchNorm2d>(out));
      register_module("downsample", downsample);
    }
    fold1_ = nn::ConvBnFold(*conv1, *bn1), fold2_ = nn::ConvBnFold(*conv2, *bn2);
    if (bottleneck) fold3_ = nn::ConvBnFold(*conv3, *bn3);
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = fold1_.forward_relu(x);  // BN + ReLU fused in training, folded into the conv in eval
    if (bottleneck_) h = fold2_.forward_relu(h);
    const Tensor identity = downsample ? fold_down_(x) : x;
    // The last BN, the residual add and the ReLU fused in training (folded conv, add, ReLU in eval).
    return (bottleneck_ ? fold3_ : fold2_).forward_add_relu(h, identity);
  }
  std::vector<nn::ConvBnFold*> conv_bn_folds() override {
    std::vector<nn::ConvBnFold*> v = {&fold1_, &fold2_};
    if (bottleneck_) v.push_back(&fold3_);
    if (downsample) v.push_back(&fold_down_);
    return v;
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::Sequential> downsample;

 private:
  bool bottleneck_;
  nn::ConvBnFold fold1_, fold2_, fold3_, fold_down_;  // conv -> BN pairs (folded for inference)
};

class ResNet : public nn::Layer, public nn::FoldsBatchNorm {
 public:
  ResNet(const ResNetSpec& spec, int64_t num_classes, Generator& gen = default_generator()) : spec_(spec) {
    FER_CHECK(num_classes > 0, "ResNet: num_classes must be positive");
    conv1 = resnet_detail::conv(3, 64, 7, 2, gen);
    bn1 = std::make_shared<nn::BatchNorm2d>(64);
    register_module("conv1", conv1), register_module("bn1", bn1);
    stem_ = nn::ConvBnFold(*conv1, *bn1);
    int64_t in = 64;
    for (int s = 0; s < 4; ++s) {
      auto stage = std::make_shared<nn::Sequential>();
      for (int64_t b = 0; b < spec.blocks[size_t(s)]; ++b) {
        int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        stage->push_back(std::make_shared<ResNetBlock>(spec.bottleneck, in, ResNetSpec::planes[size_t(s)], stride, gen));
        in = ResNetSpec::planes[size_t(s)] * spec.expansion();
      }
      layers[s] = stage;
      register_module("layer" + std::to_string(s + 1), stage);
    }
    fc = std::make_shared<nn::Linear>(spec.feature_dim(), num_classes, true, gen);
    register_module("fc", fc);
  }
  // Penultimate features [N, 512 * expansion] (for embeddings and custom heads).
  Tensor features(const Tensor& x) {
    Tensor h = max_pool2d(stem_.forward_relu(x), Pool2dParams::make(3, 2, 1));
    for (auto& l : layers) h = (*l)(h);
    return flatten(adaptive_avg_pool2d(h, 1, 1));
  }
  Tensor forward(const Tensor& x) override { return (*fc)(features(x)); }
  const ResNetSpec& spec() const { return spec_; }
  std::vector<nn::ConvBnFold*> conv_bn_folds() override { return {&stem_}; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::Sequential> layers[4];
  std::shared_ptr<nn::Linear> fc;

 private:
  ResNetSpec spec_;
  nn::ConvBnFold stem_;  // conv1 -> bn1
};

}  // namespace fer::models
