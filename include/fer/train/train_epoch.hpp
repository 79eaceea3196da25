#pragma once
// One epoch of training: the epoch's order of images (shuffled, or class-balanced with --sampler balanced), cut to
// --limit_batches; batches assembled ahead by a loader thread; one TrainStep per batch; the epoch's mean loss and
// accuracy over the images trained on. Ctrl-C (TrainConfig::interrupted) stops it between batches.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "fer/data/image_set.hpp"
#include "fer/data/loader.hpp"
#include "fer/data/sampling.hpp"
#include "fer/train/console.hpp"
#include "fer/train/train_config.hpp"
#include "fer/train/train_step.hpp"

namespace fer::train {

// Batches per epoch: every image once, or at most --limit_batches.
inline int64_t batches_per_epoch(int64_t images, const TrainConfig& cfg) {
  int64_t batches = (images + cfg.batch_size - 1) / cfg.batch_size;
  if (cfg.limit_batches > 0) batches = std::min(batches, cfg.limit_batches);
  return batches;
}

// Rows of `logits` [N, C] (host) whose first largest entry is the label.
inline int64_t count_correct(const Tensor& logits, const Tensor& labels, int64_t c) {
  const int64_t n = labels.numel();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    double best = -INFINITY;
    int64_t arg = 0;
    for (int64_t k = 0; k < c; ++k)
      if (logits.flat(i * c + k) > best) best = logits.flat(i * c + k), arg = k;
    correct += arg == int64_t(labels.flat(i));
  }
  return correct;
}

struct EpochStats {
  double loss = NAN, accuracy = NAN;  // over the images trained on (NaN if none)
  int64_t images = 0;
  double seconds = 0, images_per_second = 0;
  bool interrupted = false;  // stopped between batches; the epoch does not count
};

template <class Model>
class TrainingEpochs {
 public:
  TrainingEpochs(Model& model, TrainStep<Model>& step, const data::ImageSet& set, const data::Preprocess& pp,
                 const TrainConfig& cfg, int64_t batches)
      : model_(model), step_(step), set_(set), pp_(pp), cfg_(cfg), batches_(batches), progress_(cfg.quiet) {
    if (cfg.balanced_sampler)
      balanced_ = std::make_unique<data::BalancedSampler>(set.labels(), size_t(set.num_classes()), cfg.seed);
    else
      shuffle_ = std::make_unique<data::ShuffleSampler>(set.size(), cfg.seed);
  }

  // Trains epoch `epoch` (0-based). A NaN or Inf loss throws what `nonfinite_loss(loss, epoch, batch, lr)` throws.
  template <class OnNonfinite>
  EpochStats run(int64_t epoch, const OnNonfinite& nonfinite_loss) {
    using clock = std::chrono::steady_clock;
    model_.train();
    std::vector<int64_t> order = balanced_ ? balanced_->epoch(epoch) : shuffle_->epoch(epoch);
    order.resize(std::min<size_t>(order.size(), size_t(batches_ * cfg_.batch_size)));
    // Assembles ahead; into pinned memory for a GPU. A pinned batch is released only after the step's logits came
    // back to the host (a stream synchronization), so its asynchronous upload has finished by then.
    data::BatchLoader loader(set_, order, cfg_.batch_size, pp_, cfg_.seed, epoch, 2, cfg_.device.is_cuda());
    const auto t0 = clock::now();
    EpochStats s;
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t b = 0; b < batches_; ++b) {
      if (cfg_.interrupted && cfg_.interrupted()) {
        progress_.interrupted();
        s.interrupted = true;
        return s;
      }
      data::Batch batch = loader.next();
      const int64_t n = batch.labels.numel();
      // On a GPU the copies are queued on the device's stream ahead of the step's kernels.
      Tensor images = batch.images.to(cfg_.device), labels = batch.labels.to(cfg_.device);
      if (n < 2 && n < int64_t(order.size())) continue;  // a 1-image batch breaks batch norm: skip it
      const double lr = step_.schedule(epoch * batches_ + b);
      StepResult r = step_.run(images, labels, [&](double loss) { nonfinite_loss(loss, epoch, b, lr); });
      loss_sum += r.loss * double(n);
      correct += count_correct(r.logits, batch.labels, set_.num_classes());
      s.images += n;
      progress_.batch(epoch, cfg_.epochs, b, batches_, cfg_.batch_size, loss_sum / double(s.images), s.images,
                      std::chrono::duration<double>(clock::now() - t0).count());
    }
    s.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    if (s.images) s.loss = loss_sum / double(s.images), s.accuracy = double(correct) / double(s.images);
    s.images_per_second = double(s.images) / std::max(s.seconds, 1e-9);
    progress_.end_epoch();
    return s;
  }

 private:
  Model& model_;
  TrainStep<Model>& step_;
  const data::ImageSet& set_;
  const data::Preprocess& pp_;
  const TrainConfig& cfg_;
  int64_t batches_;
  ProgressLine progress_;
  std::unique_ptr<data::BalancedSampler> balanced_;
  std::unique_ptr<data::ShuffleSampler> shuffle_;
};

}  // namespace fer::train
