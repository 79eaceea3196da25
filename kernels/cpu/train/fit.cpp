// The training loop for every nn::Layer, compiled once (see train/trainer.hpp).
#include "fer/train/trainer.hpp"

namespace fer::train {

FitResult fit(nn::Layer& model, const data::ImageSet& train_set, const data::ImageSet* val_set,
              const data::ImageSet* test_set, const data::Preprocess& train_pp, const data::Preprocess& eval_pp,
              const TrainConfig& cfg, const nlohmann::json& run_info) {
  return fit_loop(model, train_set, val_set, test_set, train_pp, eval_pp, cfg, run_info);
}

}  // namespace fer::train
