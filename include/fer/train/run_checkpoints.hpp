#pragma once
// A training run's checkpoints, one pair per epoch in OUT/checkpoints: `best` (weights of the best epoch by
// validation macro-F1, or of every epoch without a validation set) and `last` (weights and optimizer state).
// trainer.json carries the run's progress (RunProgress) and the generator, so --resume continues to the bit.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/core/rng.hpp"
#include "fer/nn/module.hpp"
#include "fer/optim/optimizer.hpp"
#include "fer/train/checkpoint.hpp"
#include "fer/train/early_stopping.hpp"
#include "fer/train/train_config.hpp"

namespace fer::train {

inline nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// How far a run is: what a checkpoint carries from epoch to epoch and across a resume.
struct RunProgress {
  int64_t epochs = 0;  // finished
  nlohmann::json history = nlohmann::json::array();  // one entry per finished epoch (RunRecorder)
  int64_t best_epoch = -1;
  double best_val_f1 = NAN;
  EarlyStopping stopper;
  double train_seconds = 0;  // over all epochs, resumed ones included
  int64_t images_seen = 0;   // idem (images/s = images_seen / train_seconds)

  explicit RunProgress(int64_t patience) : stopper(patience, true) {}

  // After epoch `epoch` (0-based) trained `images` in `seconds` and validated at `val_f1` (NaN without a validation
  // set: then every epoch is the best). Returns whether it is the best so far.
  bool finish_epoch(int64_t epoch, int64_t images, double seconds, double val_f1) {
    epochs = epoch + 1;
    train_seconds += seconds;
    images_seen += images;
    const bool improved = stopper.update(std::isfinite(val_f1) ? val_f1 : -double(epoch));
    if (improved) best_epoch = epoch + 1, best_val_f1 = val_f1;
    return improved;
  }

  double images_per_second() const { return train_seconds > 0 ? double(images_seen) / train_seconds : 0; }

  // trainer.json: the progress, the generator's state now, and the settings that identify the run.
  nlohmann::json to_json(const TrainConfig& cfg) const {
    return {{"epoch", epochs}, {"rng", generator_state_json(default_generator())}, {"history", history},
            {"best_epoch", best_epoch}, {"best_val_f1", number_or_null(best_val_f1)},
            {"bad_epochs", stopper.bad_epochs()}, {"train_seconds", train_seconds}, {"images_seen", images_seen},
            {"config", {{"seed", cfg.seed}, {"optimizer", cfg.optimizer}, {"lr", cfg.lr}}}};
  }
};

// Continues from cfg.resume (a run directory, or a checkpoint directory with optimizer state): the weights, the
// optimizer's state, the default generator and the progress. Without cfg.resume, a fresh start.
inline RunProgress resume_progress(const TrainConfig& cfg, nn::Module& model, optim::Optimizer& opt) {
  RunProgress p(cfg.patience);
  if (cfg.resume.empty()) return p;
  const std::filesystem::path ck = std::filesystem::exists(cfg.resume / "checkpoints" / "last" / "trainer.json") ||
                                           std::filesystem::exists(cfg.resume / "checkpoints" / "last.old")
                                       ? cfg.resume / "checkpoints" / "last"
                                       : cfg.resume;
  nlohmann::json st = load_checkpoint(ck, model, &opt);
  p.epochs = st.value("epoch", int64_t(0));
  set_generator_state(default_generator(), st["rng"], ck.string());
  p.history = st.value("history", nlohmann::json::array());
  p.best_epoch = st.value("best_epoch", int64_t(-1));
  p.best_val_f1 = st.contains("best_val_f1") && st["best_val_f1"].is_number() ? st["best_val_f1"].get<double>() : NAN;
  p.stopper.restore(p.best_val_f1, st.value("bad_epochs", int64_t(0)));
  p.train_seconds = st.value("train_seconds", 0.0);
  p.images_seen = st.value("images_seen", int64_t(0));
  if (!cfg.quiet) std::printf("resumed from %s at epoch %lld\n", ck.string().c_str(), (long long)p.epochs);
  return p;
}

// The epoch's checkpoints: `best` when it improved, then `last`.
inline void save_epoch_checkpoints(const TrainConfig& cfg, const nn::Module& model, const optim::Optimizer& opt,
                                   const RunProgress& p, bool improved) {
  const nlohmann::json st = p.to_json(cfg);
  if (improved) save_checkpoint(cfg.out / "checkpoints" / "best", model, nullptr, st);
  save_checkpoint(cfg.out / "checkpoints" / "last", model, &opt, st);
}

// A NaN or Inf loss stops the run with where it happened and which checkpoint to go back to; the last one is
// named good only when its files verify.
[[noreturn]] inline void fail_nonfinite_loss(const std::filesystem::path& out, double loss, int64_t epoch, int64_t batch,
                                             double lr) {
  const std::filesystem::path last = out / "checkpoints" / "last";
  std::string why, where;
  if (!std::filesystem::exists(last / "trainer.json") && !std::filesystem::exists(last.string() + ".old"))
    where = "there is no checkpoint yet (it happened in the first epoch)";
  else if (checkpoint_is_intact(find_checkpoint(last), &why))
    where = "the last good checkpoint is in " + find_checkpoint(last).string();
  else
    where = "the last checkpoint is NOT usable: " + why;
  fail("train: the loss became ", loss, " at epoch ", epoch + 1, " batch ", batch + 1, " (lr ", lr, "); ", where,
       ". Lower the learning rate or check the data.");
}

// The best epoch's weights (verified), for the final evaluation; the model keeps its own when there is no best.
inline void load_best_weights(nn::Module& model, const std::filesystem::path& out) {
  if (std::filesystem::exists(out / "checkpoints" / "best" / "model.safetensors") ||
      std::filesystem::exists(out / "checkpoints" / "best.old" / "model.safetensors"))
    nn::load_safetensors(model, verified_weights(out / "checkpoints" / "best").string());
}

}  // namespace fer::train
