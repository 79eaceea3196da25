#pragma once
// Building blocks shared by the torchvision backbones, with torchvision's module names:
// Conv2dNormActivation (a Sequential "0" conv, "1" BatchNorm, "2" activation), SqueezeExcitation ("fc1", "fc2"),
// LayerNorm2d over channels (NHWC: the last dim), stochastic depth, and torchvision's weight initializations.
#include <memory>
#include <optional>

#include "fer/nn/fold_bn.hpp"
#include "fer/nn/init.hpp"
#include "fer/nn/layers.hpp"

namespace fer::models {

inline void init_conv_kaiming_fan_out(nn::Conv2d& c, Generator& gen) {
  nn::init::KaimingOptions o;
  o.mode = nn::init::FanMode::fan_out;
  o.nonlinearity = nn::init::Nonlinearity::relu;
  o.layout = nn::ParamLayout::conv_ohwi;
  nn::init::kaiming_normal_(c.weight, o, gen);
  if (c.bias.defined()) nn::init::zeros_(c.bias);
}

struct ConvNormActOptions {
  int64_t stride = 1, groups = 1;
  std::optional<nn::Activation> act = nn::Activation::relu;  // nullopt: none
  double bn_eps = 1e-5, bn_momentum = 0.1;
};

// torchvision's Conv2dNormActivation: conv (padding (k-1)/2, no bias) + BatchNorm + optional activation, children
// "0", "1", "2" as the Sequential it is; conv and BN run as one folded conv in eval mode after nn::fold_batch_norm.
class ConvNormAct : public nn::Sequential, public nn::FoldsBatchNorm {
 public:
  ConvNormAct(int64_t in, int64_t out, int64_t k, const ConvNormActOptions& o, Generator& gen) {
    auto& conv = emplace<nn::Conv2d>(in, out, k, o.stride, (k - 1) / 2, 1, o.groups, false, gen);
    init_conv_kaiming_fan_out(conv, gen);
    auto& bn = emplace<nn::BatchNorm2d>(out, o.bn_eps, o.bn_momentum);
    if (o.act) act_ = &emplace<nn::ActivationLayer>(*o.act);
    conv_bn_ = nn::ConvBnFold(conv, bn);
  }
  Tensor forward(const Tensor& x) override {
    if (act_ && act_->kind() == nn::Activation::relu) return conv_bn_.forward_relu(x);  // fused BN + ReLU
    Tensor h = conv_bn_(x);
    return act_ ? act_->forward(h) : h;
  }
  std::vector<nn::ConvBnFold*> conv_bn_folds() override { return {&conv_bn_}; }

 private:
  nn::ConvBnFold conv_bn_;
  nn::ActivationLayer* act_ = nullptr;
};

inline std::shared_ptr<ConvNormAct> conv_norm_act(int64_t in, int64_t out, int64_t k, const ConvNormActOptions& o,
                                                  Generator& gen) {
  return std::make_shared<ConvNormAct>(in, out, k, o, gen);
}

// torchvision.ops.SqueezeExcitation: x * scale(fc2(act(fc1(avgpool(x))))), fc1/fc2 1x1 convs with bias.
class SqueezeExcitation : public nn::Layer {
 public:
  SqueezeExcitation(int64_t channels, int64_t squeeze, nn::Activation act, nn::Activation scale_act, Generator& gen)
      : act_(act), scale_(scale_act) {
    fc1 = std::make_shared<nn::Conv2d>(channels, squeeze, 1, 1, 0, 1, 1, true, gen);
    fc2 = std::make_shared<nn::Conv2d>(squeeze, channels, 1, 1, 0, 1, 1, true, gen);
    init_conv_kaiming_fan_out(*fc1, gen);
    init_conv_kaiming_fan_out(*fc2, gen);
    register_module("fc1", fc1), register_module("fc2", fc2);
  }
  Tensor forward(const Tensor& x) override {
    Tensor s = adaptive_avg_pool2d(x, 1, 1);
    s = nn::ActivationLayer(act_).forward(fc1->forward(s));
    s = nn::ActivationLayer(scale_).forward(fc2->forward(s));
    return mul(x, s);
  }
  std::shared_ptr<nn::Conv2d> fc1, fc2;

 private:
  nn::Activation act_, scale_;
};

// LayerNorm over the channels of NHWC data (torchvision's LayerNorm2d, and nn.LayerNorm over the last dim).
class LayerNormChannels : public nn::Layer {
 public:
  Tensor weight, bias;
  explicit LayerNormChannels(int64_t channels, double eps = 1e-6) : eps_(eps) {
    weight = Tensor::ones({channels});
    bias = Tensor::zeros({channels});
    register_parameter("weight", weight);
    register_parameter("bias", bias);
  }
  Tensor forward(const Tensor& x) override { return layer_norm(x, weight, bias, eps_); }

 private:
  double eps_;
};

// torchvision.ops.StochasticDepth in "row" mode.
class StochasticDepth : public nn::Layer {
 public:
  // Draws from the default generator (checkpointed with the run), like Dropout.
  explicit StochasticDepth(double p) : p_(p) {}
  Tensor forward(const Tensor& x) override { return stochastic_depth(x, p_, true, is_training(), default_generator()); }
  double p() const { return p_; }
  void set_p(double p) { p_ = p; }  // models::set_drop_path

 private:
  double p_;
};

// A module without parameters that still takes an index in a Sequential (torchvision's Permute in ConvNeXt: NHWC
// activations are already channels-last, so it is the identity here).
class Passthrough : public nn::Layer {
 public:
  Tensor forward(const Tensor& x) override { return x; }
};

}  // namespace fer::models
