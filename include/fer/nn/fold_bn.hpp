#pragma once
// Batch norm folded into the preceding convolution for inference. In eval mode BN is a per-channel affine map with
// constant coefficients, so conv -> BN equals one conv with
//   weight' = weight * s,  bias' = (bias - running_mean) * s + beta,  s = gamma / sqrt(running_var + eps)
// (per output channel), which saves a full read and write of every BN output.
//
// A model opts in per pair: it holds an nn::ConvBnFold for each conv directly followed by a BN (nothing between
// them), evaluates the pair through it, and lists its folds by implementing FoldsBatchNorm. fold_batch_norm(model)
// then snapshots the folded weights of every such pair. Folded pairs are used in eval mode only; training mode
// always runs conv and BN apart (and updates the running statistics). The snapshot is taken at fold time: after
// loading other weights or training, fold again (or unfold). A pre-activation BN (BN -> ReLU -> conv, DenseNet's
// norm1/transition norms) is not foldable: the ReLU between them is not affine.
#include <cmath>
#include <cstdint>
#include <vector>

#include "fer/nn/bn_relu.hpp"
#include "fer/nn/layers.hpp"

namespace fer::nn {

// One conv -> BN pair of a model. Holds plain pointers to the two modules (modules never move, and the pair lives
// in the module that owns both).
class ConvBnFold {
 public:
  ConvBnFold() = default;
  ConvBnFold(Conv2d& conv, BatchNorm2d& bn) : conv_(&conv), bn_(&bn) {}

  // The pair's output: the folded conv in eval mode once folded, conv then BN otherwise.
  Tensor operator()(const Tensor& x) const {
    FER_CHECK(conv_ && bn_, "ConvBnFold: pair not bound to a conv and a batch norm");
    if (hooked()) return (*bn_)((*conv_)(x));  // hooks see each module's own output
    if (folded() && !bn_->is_training()) return conv2d(x, weight_, bias_, conv_->params());
    return bn_->forward(conv_->forward(x));
  }

  // relu of the pair's output: the folded conv then ReLU, or conv then the fused BN + ReLU.
  Tensor forward_relu(const Tensor& x) const {
    FER_CHECK(conv_ && bn_, "ConvBnFold: pair not bound to a conv and a batch norm");
    if (hooked()) return relu((*bn_)((*conv_)(x)));
    if (folded() && !bn_->is_training()) return relu(conv2d(x, weight_, bias_, conv_->params()));
    return batch_norm_relu(*bn_, conv_->forward(x));
  }

  // relu(pair's output + residual): the folded conv, add and ReLU, or conv then the fused BN + add + ReLU.
  Tensor forward_add_relu(const Tensor& x, const Tensor& residual) const {
    FER_CHECK(conv_ && bn_, "ConvBnFold: pair not bound to a conv and a batch norm");
    if (hooked()) return relu(add((*bn_)((*conv_)(x)), residual));
    if (folded() && !bn_->is_training()) return relu(add(conv2d(x, weight_, bias_, conv_->params()), residual));
    return batch_norm_add_relu(*bn_, conv_->forward(x), residual);
  }

  // Whether the pair can be folded: BN must normalize with running statistics in eval mode.
  bool foldable() const { return conv_ && bn_ && bn_->running_mean.defined() && bn_->running_var.defined(); }
  bool folded() const { return weight_.defined(); }
  bool hooked() const { return conv_->has_forward_hook() || bn_->has_forward_hook(); }

  // Snapshots the folded weight and bias from the current parameters and running statistics (on the conv's
  // device, in its dtype; computed in double).
  void fold() {
    FER_CHECK(foldable(), "ConvBnFold: batch norm without running statistics cannot be folded");
    const Tensor w = conv_->weight.detach().host();  // OHWI: output channel first
    const int64_t out = w.size(0), per_out = w.numel() / out;
    const Tensor mean = bn_->running_mean.host(), var = bn_->running_var.host();
    const Tensor gamma = bn_->weight.defined() ? bn_->weight.detach().host() : Tensor();
    const Tensor beta = bn_->bias.defined() ? bn_->bias.detach().host() : Tensor();
    const Tensor conv_bias = conv_->bias.defined() ? conv_->bias.detach().host() : Tensor();
    Tensor fw = Tensor::empty(w.shape(), w.dtype()), fb = Tensor::empty({out}, w.dtype());
    for (int64_t o = 0; o < out; ++o) {
      double s = (gamma.defined() ? gamma.flat(o) : 1.0) / std::sqrt(var.flat(o) + bn_->eps());
      for (int64_t i = o * per_out; i < (o + 1) * per_out; ++i) fw.set_flat(i, w.flat(i) * s);
      double b = conv_bias.defined() ? conv_bias.flat(o) : 0.0;
      fb.set_flat(o, (b - mean.flat(o)) * s + (beta.defined() ? beta.flat(o) : 0.0));
    }
    weight_ = fw.to(conv_->weight.device());
    bias_ = fb.to(conv_->weight.device());
  }
  void unfold() { weight_ = bias_ = Tensor(); }

 private:
  Conv2d* conv_ = nullptr;
  BatchNorm2d* bn_ = nullptr;
  Tensor weight_, bias_;  // folded; undefined until fold()
};

// Implemented by the modules that evaluate conv -> BN pairs through ConvBnFolds.
class FoldsBatchNorm {
 public:
  virtual ~FoldsBatchNorm() = default;
  virtual std::vector<ConvBnFold*> conv_bn_folds() = 0;
};

// Every ConvBnFold of `model` and its descendants.
inline std::vector<ConvBnFold*> conv_bn_folds_of(Module& model) {
  std::vector<ConvBnFold*> out;
  for (auto& [name, m] : model.named_modules())
    if (auto* f = dynamic_cast<FoldsBatchNorm*>(m))
      for (ConvBnFold* p : f->conv_bn_folds()) out.push_back(p);
  return out;
}

// Folds every foldable conv -> BN pair of `model` (used from then on in eval mode); returns how many were folded.
// Call after the weights are loaded; the model's parameters and state_dict are not changed.
inline int64_t fold_batch_norm(Module& model) {
  int64_t n = 0;
  for (ConvBnFold* p : conv_bn_folds_of(model))
    if (p->foldable()) p->fold(), ++n;
  return n;
}

// Drops the folded weights: every pair runs as conv then BN again.
inline void unfold_batch_norm(Module& model) {
  for (ConvBnFold* p : conv_bn_folds_of(model)) p->unfold();
}

// Folds on construction and unfolds on destruction: for an evaluation inside training (the weights change between
// evaluations, so the snapshot must not outlive it).
class FoldedBatchNormScope {
 public:
  explicit FoldedBatchNormScope(Module& model) : model_(model) { fold_batch_norm(model_); }
  ~FoldedBatchNormScope() { unfold_batch_norm(model_); }
  FoldedBatchNormScope(const FoldedBatchNormScope&) = delete;
  FoldedBatchNormScope& operator=(const FoldedBatchNormScope&) = delete;

 private:
  Module& model_;
};

}  // namespace fer::nn
