// Evaluation of every nn::Layer, compiled once (see train/evaluate.hpp).
#include "fer/train/evaluate.hpp"

namespace fer::train {

EvalResult evaluate(nn::Layer& model, const data::ImageSet& set, const data::Preprocess& pp, int64_t batch_size) {
  return evaluate_loop(model, set, pp, batch_size);
}

}  // namespace fer::train
