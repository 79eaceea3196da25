#pragma once
// The reference study's small custom CNN for 48x48 RGB input: three blocks of
// [Conv 3x3 pad 1 + BatchNorm + ReLU + MaxPool 2] with 3 -> 16 -> 32 -> 64 channels, then Flatten,
// Linear(64 * 6 * 6 -> 128), Dropout(0.25), ReLU, Linear(128 -> num_classes).
//
// Its PyTorch twin (names and state_dict keys match 1:1; Flatten uses NCHW order):
//   features   = nn.Sequential(Conv2d(3,16,3,padding=1), BatchNorm2d(16), ReLU(), MaxPool2d(2),     # 0-3
//                              Conv2d(16,32,3,padding=1), BatchNorm2d(32), ReLU(), MaxPool2d(2),    # 4-7
//                              Conv2d(32,64,3,padding=1), BatchNorm2d(64), ReLU(), MaxPool2d(2))    # 8-11
//   classifier = nn.Sequential(Flatten(), Linear(2304,128), Dropout(0.25), ReLU(), Linear(128,C))  # 0-4
#include <array>
#include <cstdint>

#include "fer/nn/fold_bn.hpp"
#include "fer/nn/layers.hpp"
#include "models/param_count.hpp"

namespace fer::models {

struct CustomCnnSpec {
  static constexpr int64_t widths[4] = {3, 16, 32, 64};
  static constexpr int64_t hidden = 128;
  static constexpr double dropout = 0.25;

  // Trainable parameters for `num_classes` outputs on image_size x image_size input.
  static constexpr int64_t param_count(int64_t num_classes, int64_t image_size = 48) {
    int64_t n = 0;
    for (int b = 0; b < 3; ++b) n += count::conv(widths[b], widths[b + 1], 3, 1, true) + count::norm(widths[b + 1]);
    int64_t side = image_size / 8;
    return n + count::linear(widths[3] * side * side, hidden) + count::linear(hidden, num_classes);
  }
};
// torch: sum(p.numel() for p in model.parameters()) of the twin above is 320138 for 10 classes (Fashion-MNIST)
// and 319751 for 7 (FER2013), computed with /usr/bin/python3 (torch 1.13).
static_assert(CustomCnnSpec::param_count(10) == 320138);
static_assert(CustomCnnSpec::param_count(7) == 319751);

// The three blocks as the Sequential children "0".."11" of the twin above. Each conv -> BN -> ReLU runs as conv then
// the fused BN + ReLU in training, and as one folded conv then ReLU in eval after nn::fold_batch_norm. A forward hook
// on any child makes the blocks run module by module, so that every hooked module sees its own output.
class CustomCnnFeatures : public nn::Sequential, public nn::FoldsBatchNorm {
 public:
  explicit CustomCnnFeatures(Generator& gen) {
    const auto& w = CustomCnnSpec::widths;
    for (int b = 0; b < 3; ++b) {
      auto& conv = emplace<nn::Conv2d>(w[b], w[b + 1], 3, 1, 1, 1, 1, true, gen);
      auto& bn = emplace<nn::BatchNorm2d>(w[b + 1]);
      emplace<nn::ReLU>();
      pools_[b] = &emplace<nn::MaxPool2d>(2);
      conv_bn_[b] = nn::ConvBnFold(conv, bn);
    }
  }
  Tensor forward(const Tensor& x) override {
    for (size_t i = 0; i < size(); ++i)
      if ((*this)[i].has_forward_hook()) return Sequential::forward(x);
    Tensor h = x;
    for (int b = 0; b < 3; ++b) h = pools_[b]->forward(conv_bn_[b].forward_relu(h));
    return h;
  }
  std::vector<nn::ConvBnFold*> conv_bn_folds() override { return {&conv_bn_[0], &conv_bn_[1], &conv_bn_[2]}; }

 private:
  std::array<nn::ConvBnFold, 3> conv_bn_;
  std::array<nn::MaxPool2d*, 3> pools_{};
};

class CustomCnn : public nn::Layer {
 public:
  CustomCnnFeatures features;
  nn::Sequential classifier;

  // `gen` draws the initial weights and the dropout masks, so it must outlive the model.
  explicit CustomCnn(int64_t num_classes, int64_t image_size = 48, Generator& gen = default_generator())
      : features(gen), num_classes_(num_classes), image_size_(image_size) {
    FER_CHECK(num_classes > 0, "CustomCnn: num_classes must be positive, got ", num_classes);
    FER_CHECK(image_size >= 8 && image_size % 8 == 0, "CustomCnn: image_size must be a multiple of 8, got ", image_size);
    const auto& w = CustomCnnSpec::widths;
    int64_t side = image_size / 8;
    classifier.emplace<nn::Flatten>();
    classifier.emplace<nn::Linear>(w[3] * side * side, CustomCnnSpec::hidden, true, gen);
    classifier.emplace<nn::Dropout>(CustomCnnSpec::dropout);
    classifier.emplace<nn::ReLU>();
    classifier.emplace<nn::Linear>(CustomCnnSpec::hidden, num_classes, true, gen);
    register_module("features", features);
    register_module("classifier", classifier);
  }

  // images [N, S, S, 3] (NHWC, S = image_size) -> logits [N, num_classes].
  Tensor forward(const Tensor& x) override {
    FER_CHECK(x.defined() && x.dim() == 4 && x.size(1) == image_size_ && x.size(2) == image_size_ && x.size(3) == 3,
              "CustomCnn: expected images [N, ", image_size_, ", ", image_size_, ", 3], got ",
              x.defined() ? x.shape().str() : std::string("undefined"));
    return classifier(features(x));
  }
  int64_t num_classes() const { return num_classes_; }
  int64_t image_size() const { return image_size_; }

 private:
  int64_t num_classes_, image_size_;
};

}  // namespace fer::models
