#pragma once
// timm's tf_efficientnet_b0(_ns): EfficientNet-B0 ported from TensorFlow, as the VGGFace2/AffectNet-pretrained FER
// weights use it. Same block structure as torchvision's B0, but timm's module names (conv_stem, bn1, blocks.i.j.*,
// conv_head, bn2, classifier), BatchNorm eps 1e-3, and TensorFlow "same" padding: computed from the input size, with
// the odd pixel at the bottom/right (so a stride-2 conv on an even input pads 0 on top and 1 below for 3x3).
#include "models/blocks.hpp"
#include "models/efficientnet_spec.hpp"

namespace fer::models {

// A convolution with TensorFlow "same" padding (weight OHWI, optional bias).
class TfSameConv2d : public nn::Layer {
 public:
  Tensor weight, bias;
  TfSameConv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups, bool with_bias, Generator& gen)
      : k_(k), stride_(stride), groups_(groups) {
    weight = Tensor::empty({out, k, k, in / groups});
    register_parameter("weight", weight, nn::ParamLayout::conv_ohwi);
    if (with_bias) bias = Tensor::empty({out}), register_parameter("bias", bias);
    nn::init::default_conv_init(weight, bias, gen);
  }
  static int64_t same_pad(int64_t in, int64_t k, int64_t s) {
    return std::max<int64_t>((((in + s - 1) / s) - 1) * s + k - in, 0);
  }
  Tensor forward(const Tensor& x) override {
    int64_t ph = same_pad(x.size(1), k_, stride_), pw = same_pad(x.size(2), k_, stride_);
    Conv2dParams p;
    p.stride = {stride_, stride_};
    p.padding = {ph / 2, ph - ph / 2, pw / 2, pw - pw / 2};
    p.groups = groups_;
    return conv2d(x, weight, bias, p);
  }

 private:
  int64_t k_, stride_, groups_;
};

// timm's SqueezeExcite: conv_reduce -> SiLU -> conv_expand -> sigmoid gate.
class TfSqueezeExcite : public nn::Layer {
 public:
  std::shared_ptr<TfSameConv2d> conv_reduce, conv_expand;
  TfSqueezeExcite(int64_t channels, int64_t reduced, Generator& gen) {
    conv_reduce = std::make_shared<TfSameConv2d>(channels, reduced, 1, 1, 1, true, gen);
    conv_expand = std::make_shared<TfSameConv2d>(reduced, channels, 1, 1, 1, true, gen);
    register_module("conv_reduce", conv_reduce), register_module("conv_expand", conv_expand);
  }
  Tensor forward(const Tensor& x) override {
    Tensor s = adaptive_avg_pool2d(x, 1, 1);
    return mul(x, sigmoid(conv_expand->forward(silu(conv_reduce->forward(s)))));
  }
};

class TfMBConvBlock : public nn::Layer {
 public:
  std::shared_ptr<TfSameConv2d> conv_pw, conv_dw, conv_pwl;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<TfSqueezeExcite> se;
  std::shared_ptr<StochasticDepth> drop;
  TfMBConvBlock(int64_t in, int64_t out, int64_t expand, int64_t k, int64_t stride, double drop_prob, Generator& gen)
      : depthwise_separable_(expand == 1), skip_(stride == 1 && in == out) {
    int64_t mid = in * expand;
    const double eps = 1e-3;
    if (depthwise_separable_) {  // timm's DepthwiseSeparableConv: conv_dw, bn1, se, conv_pw, bn2
      conv_dw = std::make_shared<TfSameConv2d>(in, in, k, stride, in, false, gen);
      bn1 = std::make_shared<nn::BatchNorm2d>(in, eps);
      se = std::make_shared<TfSqueezeExcite>(in, std::max<int64_t>(1, in / 4), gen);
      conv_pw = std::make_shared<TfSameConv2d>(in, out, 1, 1, 1, false, gen);
      bn2 = std::make_shared<nn::BatchNorm2d>(out, eps);
      register_module("conv_dw", conv_dw), register_module("bn1", bn1), register_module("se", se);
      register_module("conv_pw", conv_pw), register_module("bn2", bn2);
    } else {  // InvertedResidual: conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3
      conv_pw = std::make_shared<TfSameConv2d>(in, mid, 1, 1, 1, false, gen);
      bn1 = std::make_shared<nn::BatchNorm2d>(mid, eps);
      conv_dw = std::make_shared<TfSameConv2d>(mid, mid, k, stride, mid, false, gen);
      bn2 = std::make_shared<nn::BatchNorm2d>(mid, eps);
      se = std::make_shared<TfSqueezeExcite>(mid, std::max<int64_t>(1, in / 4), gen);
      conv_pwl = std::make_shared<TfSameConv2d>(mid, out, 1, 1, 1, false, gen);
      bn3 = std::make_shared<nn::BatchNorm2d>(out, eps);
      register_module("conv_pw", conv_pw), register_module("bn1", bn1), register_module("conv_dw", conv_dw);
      register_module("bn2", bn2), register_module("se", se), register_module("conv_pwl", conv_pwl);
      register_module("bn3", bn3);
    }
    drop = std::make_shared<StochasticDepth>(drop_prob);
    register_module("drop_path", drop);
  }
  Tensor forward(const Tensor& x) override {
    Tensor h;
    if (depthwise_separable_) {
      h = se->forward(silu(bn1->forward(conv_dw->forward(x))));
      h = bn2->forward(conv_pw->forward(h));
    } else {
      h = silu(bn1->forward(conv_pw->forward(x)));
      h = se->forward(silu(bn2->forward(conv_dw->forward(h))));
      h = bn3->forward(conv_pwl->forward(h));
    }
    return skip_ ? add(drop->forward(h), x) : h;
  }

 private:
  bool depthwise_separable_, skip_;
};

class TfEfficientNet : public nn::Layer {
 public:
  std::shared_ptr<TfSameConv2d> conv_stem, conv_head;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  nn::Sequential blocks;
  std::shared_ptr<nn::Linear> classifier;
  TfEfficientNet(const EfficientNetSpec& spec, int64_t num_classes, Generator& gen = default_generator()) {
    conv_stem = std::make_shared<TfSameConv2d>(3, spec.stem, 3, 2, 1, false, gen);
    bn1 = std::make_shared<nn::BatchNorm2d>(spec.stem, 1e-3);
    register_module("conv_stem", conv_stem), register_module("bn1", bn1);
    int64_t id = 0, total = spec.total_blocks();
    for (const auto& st : spec.stages) {
      auto stage = std::make_shared<nn::Sequential>();
      for (int64_t b = 0; b < st.layers; ++b, ++id)
        stage->push_back(std::make_shared<TfMBConvBlock>(b == 0 ? st.in : st.out, st.out, st.expand_ratio, st.kernel,
                                                         b == 0 ? st.stride : 1,
                                                         spec.stochastic_depth_prob * double(id) / double(total), gen));
      blocks.push_back(stage);
    }
    register_module("blocks", blocks);
    conv_head = std::make_shared<TfSameConv2d>(spec.stages.back().out, spec.last_channels, 1, 1, 1, false, gen);
    bn2 = std::make_shared<nn::BatchNorm2d>(spec.last_channels, 1e-3);
    register_module("conv_head", conv_head), register_module("bn2", bn2);
    classifier = std::make_shared<nn::Linear>(spec.last_channels, num_classes, true, gen);
    register_module("classifier", classifier);
  }
  Tensor features_of(const Tensor& x) {
    Tensor h = silu(bn1->forward(conv_stem->forward(x)));
    h = blocks(h);
    return flatten(adaptive_avg_pool2d(silu(bn2->forward(conv_head->forward(h))), 1, 1));
  }
  Tensor forward(const Tensor& x) override { return (*classifier)(features_of(x)); }
};

}  // namespace fer::models
