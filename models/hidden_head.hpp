#pragma once
// The transfer head that make_model puts on a backbone when asked for a hidden layer.
#include <memory>

#include "fer/nn/fold_bn.hpp"
#include "fer/nn/layers.hpp"

namespace fer::models {

// The reference's transfer model: the backbone's classifier outputs `hidden` features, then ReLU -> Dropout ->
// Linear(hidden, num_classes) as "hidden_head.{0,1,2}". The backbone keeps its own names (so pretrained weights
// load by name; its classifier, now of another size, is re-initialized).
class HiddenHeadModel : public nn::Layer, public nn::FoldsBatchNorm {
 public:
  nn::Sequential hidden_head;
  HiddenHeadModel(std::shared_ptr<nn::Layer> backbone, int64_t hidden, int64_t num_classes, double dropout, Generator& gen)
      : backbone_(std::move(backbone)) {
    for (auto& [name, child] : backbone_->named_children()) register_module(name, *child);
    hidden_head.emplace<nn::ReLU>();
    hidden_head.emplace<nn::Dropout>(dropout);
    hidden_head.emplace<nn::Linear>(hidden, num_classes, true, gen);
    register_module("hidden_head", hidden_head);
  }
  Tensor forward(const Tensor& x) override { return hidden_head(backbone_->forward(x)); }
  // The backbone's own conv -> BN pairs (its children are registered here, the backbone itself is not).
  std::vector<nn::ConvBnFold*> conv_bn_folds() override {
    auto* f = dynamic_cast<nn::FoldsBatchNorm*>(backbone_.get());
    return f ? f->conv_bn_folds() : std::vector<nn::ConvBnFold*>{};
  }

 private:
  std::shared_ptr<nn::Layer> backbone_;
};

}  // namespace fer::models
