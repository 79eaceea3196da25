#pragma once
// Evaluation of a model on a labelled set: softmax probabilities, mean cross-entropy and the classification
// report, computed in eval mode without the tape (conv -> batch-norm pairs folded, which gives the same outputs).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "fer/autograd/grad_mode.hpp"
#include "fer/data/image_set.hpp"
#include "fer/data/loader.hpp"
#include "fer/metrics/classification.hpp"
#include "fer/nn/fold_bn.hpp"
#include "fer/nn/layers.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/ops/loss.hpp"

namespace fer::train {

struct EvalResult {
  std::vector<double> probs;     // [N, C] softmax probabilities
  std::vector<int32_t> labels;
  double loss = 0;
  metrics::ClassificationReport report;
};

// The passes behind `evaluate`, for any model type.
template <class Model>
EvalResult evaluate_loop(Model& model, const data::ImageSet& set, const data::Preprocess& pp, int64_t batch_size) {
  FER_CHECK(set.size() > 0, "evaluate: empty dataset");
  InferenceGuard guard;
  bool was_training = model.is_training();
  model.eval();
  nn::FoldedBatchNormScope folded(model);  // conv -> BN pairs as one conv while evaluating (same outputs, faster)
  EvalResult r;
  const int64_t c = set.num_classes();
  double loss_sum = 0;
  for (int64_t start = 0; start < set.size(); start += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t i = start; i < std::min(set.size(), start + batch_size); ++i) idx.push_back(i);
    data::Batch b = data::make_batch(set, idx, pp, 0, 0);
    const Device dev = model.device();
    Tensor labels = b.labels.to(dev);
    Tensor logits = model.forward(b.images.to(dev));
    FER_CHECK(logits.dim() == 2 && logits.size(1) == c, "evaluate: the model gives ", logits.shape().str(), " for ", c,
              " classes");
    CrossEntropyOptions sum_opt;
    sum_opt.reduction = CrossEntropyOptions::Reduction::sum;
    loss_sum += cross_entropy(logits, labels, sum_opt).item();
    Tensor p = softmax(logits, 1).host();
    for (int64_t i = 0; i < p.numel(); ++i) r.probs.push_back(p.flat(i));
    for (int64_t i = 0; i < b.labels.numel(); ++i) r.labels.push_back(int32_t(b.labels.flat(i)));
  }
  r.loss = loss_sum / double(set.size());
  r.report = metrics::classification_report(r.probs, r.labels, c);
  model.train(was_training);
  return r;
}

// An epoch's validation: loss, accuracy and macro-F1 (NaN without a validation set).
// Forward passes in eval mode without the tape; probabilities, mean cross-entropy and the metrics. An nn::Layer is
// evaluated by the instantiation compiled once into the library (kernels/cpu/train/evaluate.cpp).
EvalResult evaluate(nn::Layer& model, const data::ImageSet& set, const data::Preprocess& pp, int64_t batch_size);

template <class Model>
  requires(!std::is_base_of_v<nn::Layer, Model>)
EvalResult evaluate(Model& model, const data::ImageSet& set, const data::Preprocess& pp, int64_t batch_size) {
  return evaluate_loop(model, set, pp, batch_size);
}

struct EpochValidation {
  double loss = NAN, accuracy = NAN, macro_f1 = NAN;
};

template <class Model>
EpochValidation validate(Model& model, const data::ImageSet* set, const data::Preprocess& pp, int64_t batch_size) {
  EpochValidation v;
  if (!set || set->size() == 0) return v;
  EvalResult r = evaluate(model, *set, pp, batch_size);
  v.loss = r.loss, v.accuracy = r.report.accuracy, v.macro_f1 = r.report.macro_f1;
  return v;
}

}  // namespace fer::train
