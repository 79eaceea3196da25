#pragma once
// Layers as nn::Modules with torch.nn's names, parameters and defaults: Conv2d, BatchNorm2d, Linear, Dropout,
// activations, pooling, Flatten and Sequential. Activations are NHWC; a PyTorch model written with the same
// layers in the same order has the same state_dict keys and (through the conv layout conversion) the same values.
//
// Every layer is a Layer: a Module with forward(x). Sequential numbers its children "0", "1", ... as
// nn.Sequential does, so a layer without parameters still takes an index.
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fer/nn/init.hpp"
#include "fer/nn/module.hpp"
#include "fer/ops/conv.hpp"
#include "fer/ops/dropout.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/ops/linear.hpp"
#include "fer/ops/norm.hpp"
#include "fer/ops/pool.hpp"
#include "fer/ops/shape.hpp"

namespace fer::nn {

class Layer : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  // forward, then the forward hook if one is set (Module::set_forward_hook).
  Tensor operator()(const Tensor& x) { return has_forward_hook() ? apply_forward_hook(x, forward(x)) : forward(x); }
};

// ---------------------------------------------------------------- layers with parameters

// torch.nn.Conv2d: weight stored OHWI [out, kh, kw, in/groups] (exported as OIHW), optional bias [out], PyTorch's
// default init (kaiming_uniform(a = sqrt(5)) for the weight, U(+-1/sqrt(fan_in)) for the bias).
class Conv2d : public Layer {
 public:
  Tensor weight, bias;

  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         int64_t dilation = 1, int64_t groups = 1, bool with_bias = true, Generator& gen = default_generator())
      : Conv2d(in_channels, out_channels, {kernel_size, kernel_size},
               Conv2dParams::make(stride, padding, dilation, groups), with_bias, gen) {}

  // Rectangular kernels and asymmetric padding.
  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel_hw, const Conv2dParams& params,
         bool with_bias = true, Generator& gen = default_generator())
      : params_(params) {
    FER_CHECK(in_channels > 0 && out_channels > 0 && kernel_hw[0] > 0 && kernel_hw[1] > 0 && params.groups > 0,
              "Conv2d: channels, kernel size and groups must be positive");
    FER_CHECK(in_channels % params.groups == 0 && out_channels % params.groups == 0, "Conv2d: ", in_channels, " -> ",
              out_channels, " channels are not divisible by groups = ", params.groups);
    weight = Tensor::empty({out_channels, kernel_hw[0], kernel_hw[1], in_channels / params.groups});
    register_parameter("weight", weight, ParamLayout::conv_ohwi);
    if (with_bias) {
      bias = Tensor::empty({out_channels});
      register_parameter("bias", bias);
    }
    init::default_conv_init(weight, bias, gen);
  }
  Tensor forward(const Tensor& x) override { return conv2d(x, weight, bias, params_); }
  const Conv2dParams& params() const { return params_; }

 private:
  Conv2dParams params_;
};

// torch.nn.Linear: weight [out, in], optional bias [out], PyTorch's default init.
class Linear : public Layer {
 public:
  Tensor weight, bias;

  Linear(int64_t in_features, int64_t out_features, bool with_bias = true, Generator& gen = default_generator()) {
    FER_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got ", in_features, " -> ",
              out_features);
    weight = Tensor::empty({out_features, in_features});
    register_parameter("weight", weight);
    if (with_bias) {
      bias = Tensor::empty({out_features});
      register_parameter("bias", bias);
    }
    init::default_linear_init(weight, bias, gen);
  }
  Tensor forward(const Tensor& x) override { return linear(x, weight, bias); }
};

// torch.nn.BatchNorm2d over the channels (last dim) of NHWC input: weight (ones) and bias (zeros) when affine,
// buffers running_mean (zeros), running_var (ones) and num_batches_tracked (i64 scalar) when tracking. Training
// mode normalizes with batch statistics and updates the running ones; eval mode uses the running ones.
class BatchNorm2d : public Layer {
 public:
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;

  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       bool track_running_stats = true)
      : eps_(eps), momentum_(momentum) {
    FER_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive, got ", num_features);
    FER_CHECK(eps > 0 && momentum >= 0 && momentum <= 1, "BatchNorm2d: need eps > 0 and momentum in [0, 1]");
    if (affine) {
      weight = Tensor::ones({num_features});
      bias = Tensor::zeros({num_features});
      register_parameter("weight", weight);
      register_parameter("bias", bias);
    }
    if (track_running_stats) {
      running_mean = Tensor::zeros({num_features});
      running_var = Tensor::ones({num_features});
      num_batches_tracked = Tensor::zeros(Shape{}, DType::i64);
      register_buffer("running_mean", running_mean);
      register_buffer("running_var", running_var);
      register_buffer("num_batches_tracked", num_batches_tracked);
    }
  }
  Tensor forward(const Tensor& x) override {
    FER_CHECK(x.defined() && x.dim() == 4, "BatchNorm2d: expected NHWC input [N, H, W, C], got ",
              x.defined() ? x.shape().str() : std::string("undefined"));
    return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum_, eps_, num_batches_tracked);
  }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }

 private:
  double eps_, momentum_;
};

// ---------------------------------------------------------------- layers without parameters

// torch.nn.Dropout: zeroes elements with probability p in training mode (masks from `gen`, which must outlive
// any recorded step), identity in eval mode.
class Dropout : public Layer {
 public:
  // Masks come from the default generator at each forward, as in PyTorch: it is the one RNG a checkpoint saves and a
  // resumed run restores, so a model must not keep a generator of its own (an initialization generator would make a
  // resumed run draw other masks).
  explicit Dropout(double p = 0.5) : p_(p) { FER_CHECK(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got ", p); }
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training(), default_generator()); }

 private:
  double p_;
};

enum class Activation { relu, relu6, leaky_relu, gelu, silu, hardswish, hardsigmoid, sigmoid, tanh, identity };

// One module for the pointwise activations (torch.nn.ReLU, ReLU6, LeakyReLU, GELU, SiLU, Hardswish, Hardsigmoid,
// Sigmoid, Tanh, Identity); use the named aliases below.
class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(Activation kind, double negative_slope = 0.01) : kind_(kind), slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override {
    switch (kind_) {
      case Activation::relu: return relu(x);
      case Activation::relu6: return relu6(x);
      case Activation::leaky_relu: return leaky_relu(x, slope_);
      case Activation::gelu: return gelu(x);
      case Activation::silu: return silu(x);
      case Activation::hardswish: return hardswish(x);
      case Activation::hardsigmoid: return hardsigmoid(x);
      case Activation::sigmoid: return sigmoid(x);
      case Activation::tanh: return fer::tanh(x);
      case Activation::identity: return x;
    }
    return x;
  }
  Activation kind() const { return kind_; }

 private:
  Activation kind_;
  double slope_;
};

struct ReLU : ActivationLayer {
  ReLU() : ActivationLayer(Activation::relu) {}
};
struct ReLU6 : ActivationLayer {
  ReLU6() : ActivationLayer(Activation::relu6) {}
};
struct LeakyReLU : ActivationLayer {
  explicit LeakyReLU(double negative_slope = 0.01) : ActivationLayer(Activation::leaky_relu, negative_slope) {}
};
struct GELU : ActivationLayer {
  GELU() : ActivationLayer(Activation::gelu) {}
};
struct SiLU : ActivationLayer {
  SiLU() : ActivationLayer(Activation::silu) {}
};
struct Hardswish : ActivationLayer {
  Hardswish() : ActivationLayer(Activation::hardswish) {}
};
struct Hardsigmoid : ActivationLayer {
  Hardsigmoid() : ActivationLayer(Activation::hardsigmoid) {}
};
struct Sigmoid : ActivationLayer {
  Sigmoid() : ActivationLayer(Activation::sigmoid) {}
};
struct Tanh : ActivationLayer {
  Tanh() : ActivationLayer(Activation::tanh) {}
};
struct Identity : ActivationLayer {
  Identity() : ActivationLayer(Activation::identity) {}
};

// torch.nn.MaxPool2d(kernel_size, stride = kernel_size, padding, dilation, ceil_mode).
class MaxPool2d : public Layer {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0, int64_t dilation = 1,
                     bool ceil_mode = false)
      : params_(Pool2dParams::make(kernel_size, stride, padding)) {
    params_.dilation = {dilation, dilation};
    params_.ceil_mode = ceil_mode;
  }
  explicit MaxPool2d(const Pool2dParams& params) : params_(params) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, params_); }

 private:
  Pool2dParams params_;
};

// torch.nn.AvgPool2d(kernel_size, stride = kernel_size, padding, ceil_mode, count_include_pad).
class AvgPool2d : public Layer {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true)
      : params_(Pool2dParams::make(kernel_size, stride, padding)) {
    params_.ceil_mode = ceil_mode;
    params_.count_include_pad = count_include_pad;
  }
  explicit AvgPool2d(const Pool2dParams& params) : params_(params) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, params_); }

 private:
  Pool2dParams params_;
};

// torch.nn.AdaptiveAvgPool2d((out_h, out_w)).
class AdaptiveAvgPool2d : public Layer {
 public:
  explicit AdaptiveAvgPool2d(int64_t out_h, int64_t out_w) : out_h_(out_h), out_w_(out_w) {
    FER_CHECK(out_h > 0 && out_w > 0, "AdaptiveAvgPool2d: output size must be positive");
  }
  explicit AdaptiveAvgPool2d(int64_t out_size) : AdaptiveAvgPool2d(out_size, out_size) {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, out_h_, out_w_); }

 private:
  int64_t out_h_, out_w_;
};

// torch.nn.Flatten() (start_dim 1) with PyTorch's element order: an NHWC image [N, H, W, C] is flattened as its
// NCHW counterpart would be (channel-major), so the Linear layer after it takes PyTorch's weights unchanged.
// Other ranks flatten as they are.
class Flatten : public Layer {
 public:
  Tensor forward(const Tensor& x) override {
    FER_CHECK(x.defined() && x.dim() >= 1, "Flatten: undefined or 0-d input");
    bool spatial = x.dim() == 4 && x.size(1) * x.size(2) > 1;  // 1x1 images are already in NCHW order
    return flatten(spatial ? nhwc_to_nchw(x) : x, 1, -1);
  }
};

// ---------------------------------------------------------------- containers

// torch.nn.Sequential: children named "0", "1", ... applied in order.
class Sequential : public Layer {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Layer>> layers) {
    for (auto& l : layers) push_back(std::move(l));
  }
  // Appends a layer and returns it.
  template <class L>
  std::shared_ptr<L> push_back(std::shared_ptr<L> layer) {
    register_module(std::to_string(layers_.size()), layer);
    layers_.push_back(layer);
    return layer;
  }
  // Constructs a layer in place at the end and returns it: seq.emplace<Conv2d>(3, 16, 3, 1, 1).
  template <class L, class... Args>
  L& emplace(Args&&... args) {
    return *push_back(std::make_shared<L>(std::forward<Args>(args)...));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (auto& l : layers_) h = (*l)(h);
    return h;
  }
  size_t size() const { return layers_.size(); }
  Layer& operator[](size_t i) const {
    FER_CHECK(i < layers_.size(), "Sequential: index ", i, " out of range (", layers_.size(), " layers)");
    return *layers_[i];
  }

 private:
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace fer::nn
