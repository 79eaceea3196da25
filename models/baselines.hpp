#pragma once
// The reference study's from-scratch baselines beside the custom CNN: an MLP on the flattened image and a deeper
// plain CNN (four Conv-BN-ReLU-MaxPool blocks, global average pool, dropout, linear). Names follow nn.Sequential
// indexing ("net.0.weight", ...), so PyTorch twins written the same way share their checkpoints.
#include "fer/nn/layers.hpp"

namespace fer::models {

// Flatten -> Linear(3*S*S, 512) -> ReLU -> Dropout(0.5) -> Linear(512, 256) -> ReLU -> Dropout(0.5) -> Linear(256, C)
class Mlp : public nn::Layer {
 public:
  nn::Sequential net;
  Mlp(int64_t num_classes, int64_t image_size, Generator& gen = default_generator()) : size_(image_size) {
    net.emplace<nn::Flatten>();
    net.emplace<nn::Linear>(3 * image_size * image_size, 512, true, gen);
    net.emplace<nn::ReLU>();
    net.emplace<nn::Dropout>(0.5);
    net.emplace<nn::Linear>(512, 256, true, gen);
    net.emplace<nn::ReLU>();
    net.emplace<nn::Dropout>(0.5);
    net.emplace<nn::Linear>(256, num_classes, true, gen);
    register_module("net", net);
  }
  Tensor forward(const Tensor& x) override {
    FER_CHECK(x.dim() == 4 && x.size(1) == size_ && x.size(2) == size_ && x.size(3) == 3, "Mlp: expected [N, ", size_, ", ",
              size_, ", 3], got ", x.shape().str());
    return net(x);
  }

 private:
  int64_t size_;
};

// 4 x [Conv3x3(pad 1) + BN + ReLU + MaxPool2] with 32, 64, 128, 256 channels -> global average pool -> Dropout(0.3)
// -> Linear(256, C). Any input size >= 16.
class ScratchCnn : public nn::Layer {
 public:
  nn::Sequential features, classifier;
  ScratchCnn(int64_t num_classes, Generator& gen = default_generator()) {
    int64_t in = 3;
    for (int64_t w : {32, 64, 128, 256}) {
      features.emplace<nn::Conv2d>(in, w, 3, 1, 1, 1, 1, false, gen);
      features.emplace<nn::BatchNorm2d>(w);
      features.emplace<nn::ReLU>();
      features.emplace<nn::MaxPool2d>(2);
      in = w;
    }
    features.emplace<nn::AdaptiveAvgPool2d>(1);
    classifier.emplace<nn::Flatten>();
    classifier.emplace<nn::Dropout>(0.3);
    classifier.emplace<nn::Linear>(256, num_classes, true, gen);
    register_module("features", features);
    register_module("classifier", classifier);
  }
  Tensor forward(const Tensor& x) override { return classifier(features(x)); }
};

}  // namespace fer::models
