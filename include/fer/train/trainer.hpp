#pragma once
// The training loop: epochs of training then validation, checkpoints (best by validation macro-F1, and last),
// resumable to the bit on the CPU, NaN/Inf detection that stops with a clear message keeping the last good
// checkpoint, early stopping, gradient clipping, SAM, schedules, and the run outputs: metrics.json, log.csv,
// TensorBoard events, confusion_matrix.png, reliability.png, curves.png, predictions.csv.
//
// A model is any nn::Module with `Tensor forward(const Tensor& x)` taking NHWC images and giving logits [N, C].
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fer/autograd/grad_mode.hpp"
#include "fer/data/image_set.hpp"
#include "fer/nn/fold_bn.hpp"
#include "fer/data/loader.hpp"
#include "fer/data/sampling.hpp"
#include "fer/metrics/classification.hpp"
#include "fer/ops/elementwise.hpp"
#include "fer/ops/loss.hpp"
#include "fer/optim/adam.hpp"
#include "fer/optim/sgd.hpp"
#include "fer/report/plot.hpp"
#include "fer/report/tensorboard.hpp"
#include "fer/report/tensorboard_summaries.hpp"
#include "fer/report/yaml.hpp"
#include "fer/train/checkpoint.hpp"
#include "fer/train/early_stopping.hpp"
#include "fer/train/grad_clip.hpp"
#include "fer/train/loss_scale.hpp"
#include "fer/autograd/autocast.hpp"
#include "fer/train/schedule.hpp"

namespace fer::train {

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  uint64_t seed = 0;
  std::string optimizer = "adam";  // sgd | adam | adamw
  double lr = 1e-3, weight_decay = 0.0, momentum = 0.9;
  bool nesterov = false;
  double sam_rho = 0.0;            // > 0: sharpness-aware minimization around the optimizer
  bool no_decay_norm_bias = true;  // weight decay only on weights of rank >= 2
  double backbone_lr_mult = 1.0;   // < 1: a lower learning rate for everything but the head (pretrained backbones)
  std::vector<std::string> head_prefixes = {"fc.", "classifier.", "head."};
  std::vector<std::string> freeze_prefixes;  // parameters whose names start with one of these are not trained
  std::string schedule = "none";   // none | step | cosine | onecycle
  int64_t warmup_epochs = 0, step_epochs = 10;
  double step_gamma = 0.1;
  double label_smoothing = 0.0;
  bool class_weights = false;      // inverse-frequency class weights in the loss
  bool balanced_sampler = false;
  double grad_clip = 0.0;          // max global gradient norm; 0 = off
  int64_t patience = 0;            // early stopping on validation macro-F1; 0 = off
  Device device = Device::cpu();   // where the model trains: batches are copied there, metrics come back
  // Mixed precision on CUDA: "bf16" or "fp16" autocast (f32 master weights); fp16 adds dynamic loss scaling.
  std::string amp = "off";
  std::filesystem::path out = "runs/run";
  std::filesystem::path resume;    // a run directory or checkpoint directory to continue from
  int64_t limit_batches = 0;       // > 0: at most this many training batches per epoch (smoke runs)
  bool quiet = false;
  // Polled after every batch: when it returns true the run stops at once, keeping the checkpoints of the last
  // finished epoch (so --resume continues exactly there). Ctrl-C handlers set it.
  std::function<bool()> interrupted;
  // Called with the number of finished epochs once their checkpoints are on disk (tests kill a run here).
  std::function<void(int64_t)> checkpointed;
};

struct EvalResult {
  std::vector<double> probs;     // [N, C] softmax probabilities
  std::vector<int32_t> labels;
  double loss = 0;
  metrics::ClassificationReport report;
};

// Forward passes in eval mode without the tape; probabilities, mean cross-entropy and the metrics.
template <class Model>
EvalResult evaluate(Model& model, const data::ImageSet& set, const data::Preprocess& pp, int64_t batch_size) {
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

// predictions.csv (the reference's submission file), confusion matrix and reliability PNGs for one split.
inline void write_eval_outputs(const std::filesystem::path& dir, const data::ImageSet& set, const EvalResult& r,
                               const std::string& prefix = "") {
  const int64_t c = set.num_classes();
  std::string csv = "id,true,predicted";
  for (int64_t k = 0; k < c; ++k) csv += ",p_" + set.class_names()[size_t(k)];
  csv += "\n";
  char buf[32];
  for (int64_t i = 0; i < set.size(); ++i) {
    const double* p = r.probs.data() + i * c;
    std::string id = set.id(i);
    for (char& ch : id)
      if (ch == ',') ch = ';';
    csv += id + "," + std::to_string(r.labels[size_t(i)]) + "," + std::to_string(metrics::argmax_row(p, c));
    // %.9g: every float digit, so AUROC and calibration recompute exactly from the file.
    for (int64_t k = 0; k < c; ++k) std::snprintf(buf, sizeof(buf), ",%.9g", p[k]), csv += buf;
    csv += "\n";
  }
  io::write_file_atomically(dir / (prefix + "predictions.csv"), csv);
  report::ConfusionMatrixChart cm;
  cm.class_names = set.class_names();
  for (const auto& row : r.report.confusion) cm.counts.push_back(std::vector<double>(row.begin(), row.end()));
  report::save_confusion_matrix_png(cm, dir / (prefix + "confusion_matrix.png"));
  report::ReliabilityChart rc;
  for (const auto& b : r.report.reliability) rc.confidence.push_back(b.confidence), rc.accuracy.push_back(b.accuracy), rc.count.push_back(b.count);
  rc.ece = r.report.ece;
  report::save_reliability_png(rc, dir / (prefix + "reliability.png"));
}

struct FitResult {
  int64_t epochs_run = 0, best_epoch = -1;
  double best_val_f1 = NAN;
  double train_seconds = 0, images_per_second = 0;
  bool stopped_early = false;
  bool interrupted = false;  // stopped by cfg.interrupted: no final evaluation, no metrics.json
  bool already_finished = false;  // the run directory held this run finished: nothing was trained or written
  nlohmann::json metrics;    // what metrics.json holds
};

namespace trainer_detail {

inline bool has_prefix(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes)
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

// Parameter groups: {head, backbone} x {decayed weights, norms and biases without decay}; frozen ones left out.
inline std::unique_ptr<optim::Optimizer> make_optimizer(const nn::Module& model, const TrainConfig& cfg) {
  optim::ParamGroup groups4[4];  // [backbone?][no decay?]
  for (const auto& [name, p] : model.named_parameters()) {
    Tensor t = p;
    if (has_prefix(name, cfg.freeze_prefixes)) t.set_requires_grad(false);
    if (!t.requires_grad()) continue;
    bool backbone = cfg.backbone_lr_mult != 1.0 && !has_prefix(name, cfg.head_prefixes);
    bool no_decay = cfg.no_decay_norm_bias && p.dim() <= 1;
    groups4[2 * backbone + no_decay].params.push_back(p);
  }
  std::vector<optim::ParamGroup> groups;
  for (int k = 0; k < 4; ++k) {
    groups4[k].weight_decay = k % 2 ? 0.0 : cfg.weight_decay;
    groups4[k].lr = k >= 2 ? cfg.lr * cfg.backbone_lr_mult : cfg.lr;
    if (!groups4[k].params.empty()) groups.push_back(groups4[k]);
  }
  FER_CHECK(!groups.empty(), "train: the model has no trainable parameters");
  if (cfg.optimizer == "sgd") {
    optim::SgdOptions o;
    o.lr = cfg.lr, o.momentum = cfg.momentum, o.nesterov = cfg.nesterov, o.weight_decay = cfg.weight_decay;
    return std::make_unique<optim::SGD>(groups, o);
  }
  optim::AdamOptions o;
  o.lr = cfg.lr, o.weight_decay = cfg.weight_decay;
  if (cfg.optimizer == "adam") return std::make_unique<optim::Adam>(groups, o);
  if (cfg.optimizer == "adamw") return std::make_unique<optim::AdamW>(groups, o);
  fail("train: unknown optimizer '", cfg.optimizer, "' (sgd, adam, adamw)");
}

inline std::unique_ptr<Schedule> make_schedule(const TrainConfig& cfg, int64_t steps_per_epoch) {
  int64_t total = std::max<int64_t>(1, cfg.epochs * steps_per_epoch);
  if (cfg.schedule == "none") return std::make_unique<ConstantSchedule>(cfg.lr);
  if (cfg.schedule == "step") return std::make_unique<StepSchedule>(cfg.lr, cfg.step_epochs * steps_per_epoch, cfg.step_gamma);
  if (cfg.schedule == "cosine")
    return std::make_unique<WarmupCosineSchedule>(cfg.lr, total, std::min(total - 1, cfg.warmup_epochs * steps_per_epoch));
  if (cfg.schedule == "onecycle") return std::make_unique<OneCycleSchedule>(cfg.lr, std::max<int64_t>(total, 2));
  fail("train: unknown schedule '", cfg.schedule, "' (none, step, cosine, onecycle)");
}

inline bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) != 0; }

inline std::string fmt_duration(double s) {
  char b[32];
  if (s >= 3600) std::snprintf(b, sizeof(b), "%dh%02dm", int(s / 3600), int(std::fmod(s, 3600) / 60));
  else std::snprintf(b, sizeof(b), "%dm%02ds", int(s / 60), int(std::fmod(s, 60)));
  return b;
}

}  // namespace trainer_detail

// Trains `model` on `train_set`, validating on `val_set` each epoch and testing the best checkpoint on `test_set`
// at the end (either may be null). Writes everything into cfg.out.
template <class Model>
FitResult fit(Model& model, const data::ImageSet& train_set, const data::ImageSet* val_set, const data::ImageSet* test_set,
              const data::Preprocess& train_pp, const data::Preprocess& eval_pp, const TrainConfig& cfg,
              const nlohmann::json& run_info = {}) {
  using namespace trainer_detail;
  using clock = std::chrono::steady_clock;
  FER_CHECK(train_set.size() > 0 || cfg.epochs == 0, "train: empty training set");
  FER_CHECK(cfg.batch_size >= 1, "train: batch size must be >= 1");
  std::filesystem::create_directories(cfg.out);
  const int64_t c = train_set.num_classes();
  if (cfg.device.is_cuda()) {
    FER_CHECK(built_with_cuda(), "train: --device cuda needs a build with the CUDA backend");
    FER_CHECK(cuda_device_available(), "train: --device cuda but no CUDA device is available");
  }
  FER_CHECK(cfg.amp == "off" || cfg.amp == "bf16" || cfg.amp == "fp16", "train: --amp must be off, bf16 or fp16, got '",
            cfg.amp, "'");
  FER_CHECK(cfg.amp == "off" || cfg.device.is_cuda(), "train: --amp ", cfg.amp,
            " needs --device cuda (the CPU backend computes in f32/f64 only)");
  const DType amp_dtype = cfg.amp == "bf16" ? DType::bf16 : cfg.amp == "fp16" ? DType::f16 : DType::f32;
  DynamicLossScaler scaler;  // used with fp16 only: its 5-bit exponent underflows small gradients
  const bool scaling = cfg.amp == "fp16";
  FER_CHECK(!(scaling && cfg.sam_rho > 0), "train: SAM with --amp fp16 is not supported (use --amp bf16)");
  model.to(cfg.device);  // before the optimizer, which holds the parameters
  auto opt = make_optimizer(model, cfg);
  std::vector<double> group_lr_mult;  // the schedule scales every group's own base rate
  for (const auto& g : opt->param_groups()) group_lr_mult.push_back(*g.lr / cfg.lr);
  std::vector<Tensor> params;
  for (const auto& g : opt->param_groups())
    for (const Tensor& p : g.params) params.push_back(p);

  // Sampler and loss.
  std::vector<int32_t> labels = train_set.labels();
  std::unique_ptr<data::BalancedSampler> balanced;
  std::unique_ptr<data::ShuffleSampler> shuffle;
  if (cfg.balanced_sampler) balanced = std::make_unique<data::BalancedSampler>(labels, size_t(c), cfg.seed);
  else shuffle = std::make_unique<data::ShuffleSampler>(train_set.size(), cfg.seed);
  CrossEntropyOptions loss_opt;
  loss_opt.label_smoothing = cfg.label_smoothing;
  if (cfg.class_weights) {
    auto w = data::balanced_class_weights(data::count_classes(labels, size_t(c)));
    loss_opt.weight = Tensor::empty({c});
    for (int64_t k = 0; k < c; ++k) loss_opt.weight.set_flat(k, w[size_t(k)]);
    loss_opt.weight = loss_opt.weight.to(cfg.device);
  }
  int64_t batches = (train_set.size() + cfg.batch_size - 1) / cfg.batch_size;
  if (cfg.limit_batches > 0) batches = std::min(batches, cfg.limit_batches);
  auto schedule = make_schedule(cfg, batches);
  EarlyStopping stopper(cfg.patience, true);

  // Resume.
  FitResult res;
  int64_t images_seen = 0;  // over all epochs, resumed ones included (images/s = images_seen / train_seconds)
  nlohmann::json history = nlohmann::json::array();
  int64_t start_epoch = 0;
  if (!cfg.resume.empty()) {
    std::filesystem::path ck = std::filesystem::exists(cfg.resume / "checkpoints" / "last" / "trainer.json") ||
                                       std::filesystem::exists(cfg.resume / "checkpoints" / "last.old")
                                   ? cfg.resume / "checkpoints" / "last"
                                   : cfg.resume;
    nlohmann::json st = load_checkpoint(ck, model, opt.get());
    start_epoch = st.value("epoch", int64_t(0));
    set_generator_state(default_generator(), st["rng"], ck.string());
    history = st.value("history", nlohmann::json::array());
    res.best_epoch = st.value("best_epoch", int64_t(-1));
    res.best_val_f1 = st.contains("best_val_f1") && st["best_val_f1"].is_number() ? st["best_val_f1"].get<double>() : NAN;
    stopper.restore(res.best_val_f1, st.value("bad_epochs", int64_t(0)));
    res.train_seconds = st.value("train_seconds", 0.0);
    images_seen = st.value("images_seen", int64_t(0));
    if (!cfg.quiet) std::printf("resumed from %s at epoch %lld\n", ck.string().c_str(), (long long)start_epoch);
  }

  report::EventWriter tb(cfg.out / "tensorboard");
  std::string log_csv = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_macro_f1,lr,seconds,images_per_second\n";
  for (const auto& h : history)
    log_csv += std::to_string(h["epoch"].get<int64_t>()) + "," + h["csv"].get<std::string>() + "\n";
  const bool tty = !cfg.quiet && stdout_is_terminal();
  for (int64_t epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    model.train();
    std::vector<int64_t> order = balanced ? balanced->epoch(epoch) : shuffle->epoch(epoch);
    order.resize(std::min<size_t>(order.size(), size_t(batches * cfg.batch_size)));
    // Assembles ahead; into pinned memory for a GPU. A pinned batch is released only after the step's logits came
    // back to the host (a stream synchronization), so its asynchronous upload has finished by then.
    data::BatchLoader loader(train_set, order, cfg.batch_size, train_pp, cfg.seed, epoch, 2, cfg.device.is_cuda());
    auto t0 = clock::now();
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t b = 0; b < batches; ++b) {
      if (cfg.interrupted && cfg.interrupted()) {
        res.interrupted = true;
        if (tty) std::printf("\n");
        return res;
      }
      data::Batch batch = loader.next();
      int64_t lo = b * cfg.batch_size, hi = lo + batch.labels.numel();
      // On a GPU the copies are queued on the device's stream ahead of the step's kernels.
      Tensor images = batch.images.to(cfg.device), labels = batch.labels.to(cfg.device);
      if (hi - lo < 2 && hi - lo < int64_t(order.size())) continue;  // a 1-image batch breaks batch norm: skip it
      double lr = schedule->lr(epoch * batches + b);
      for (size_t g = 0; g < opt->param_groups().size(); ++g) opt->param_groups()[g].lr = lr * group_lr_mult[g];
      if (double m = schedule->momentum(epoch * batches + b); std::isfinite(m)) opt->set_momentum(m);
      auto step_loss = [&]() {
        Tensor logits, loss;
        {
          AutocastGuard autocast(amp_dtype);  // off (f32) unless --amp
          logits = model.forward(images);
          loss = cross_entropy(logits, labels, loss_opt);
        }
        double v = loss.item();
        if (!std::isfinite(v)) {
          Tape::current().clear();
          // Name the last checkpoint "good" only when its files verify.
          const std::filesystem::path last = cfg.out / "checkpoints" / "last";
          std::string why, where;
          if (!std::filesystem::exists(last / "trainer.json") && !std::filesystem::exists(last.string() + ".old"))
            where = "there is no checkpoint yet (it happened in the first epoch)";
          else if (checkpoint_is_intact(find_checkpoint(last), &why))
            where = "the last good checkpoint is in " + find_checkpoint(last).string();
          else
            where = "the last checkpoint is NOT usable: " + why;
          fail("train: the loss became ", v, " at epoch ", epoch + 1, " batch ", b + 1, " (lr ", lr, "); ", where,
               ". Lower the learning rate or check the data.");
        }
        if (scaling) backward(loss, Tensor::full(loss.shape(), scaler.loss_factor(), loss.dtype()));
        else backward(loss);
        return std::make_pair(v, logits);
      };
      opt->zero_grad();
      auto [v, logits_dev] = step_loss();
      Tensor logits = logits_dev.host();
      if (cfg.sam_rho > 0) {
        // SAM: climb to w + rho * g / |g|, take the gradient there, come back, step with it.
        double norm = grad_norm(params) + 1e-12;
        std::vector<Tensor> eps;
        for (const Tensor& p : params) {
          Tensor e = p.grad().defined() ? scale(p.grad(), cfg.sam_rho / norm) : Tensor();
          if (e.defined()) p.copy_(add(p.detach(), e));
          eps.push_back(e);
        }
        opt->zero_grad();
        step_loss();
        for (size_t k = 0; k < params.size(); ++k)
          if (eps[k].defined()) params[k].copy_(sub(params[k].detach(), eps[k]));
      }
      bool finite = true;
      if (scaling) {
        finite = scaler.unscale(params);  // an overflowed fp16 step is skipped and the scale backs off
        scaler.update(finite);
      }
      if (finite && cfg.grad_clip > 0) clip_grad_norm(params, cfg.grad_clip);
      if (finite) opt->step();
      loss_sum += v * double(hi - lo);
      for (int64_t i = 0; i < hi - lo; ++i) {
        double best = -INFINITY;
        int64_t arg = 0;
        for (int64_t k = 0; k < c; ++k)
          if (logits.flat(i * c + k) > best) best = logits.flat(i * c + k), arg = k;
        correct += arg == int64_t(batch.labels.flat(i));
      }
      seen += hi - lo;
      if (tty) {
        double s = std::chrono::duration<double>(clock::now() - t0).count();
        double ips = double(seen) / std::max(s, 1e-9);
        std::printf("\repoch %lld/%lld  %lld/%lld  loss %.4f  %.0f img/s  ETA %s   ", (long long)epoch + 1,
                    (long long)cfg.epochs, (long long)b + 1, (long long)batches, loss_sum / double(seen), ips,
                    fmt_duration(double(batches - b - 1) * double(cfg.batch_size) / ips).c_str());
        std::fflush(stdout);
      }
    }
    double secs = std::chrono::duration<double>(clock::now() - t0).count();
    res.train_seconds += secs;
    images_seen += seen;
    double train_loss = seen ? loss_sum / double(seen) : NAN, train_acc = seen ? double(correct) / double(seen) : NAN;
    double ips = double(seen) / std::max(secs, 1e-9);
    EvalResult val;
    double val_f1 = NAN, val_acc = NAN, val_loss = NAN;
    if (val_set && val_set->size() > 0) {
      val = evaluate(model, *val_set, eval_pp, cfg.batch_size * 2);
      val_f1 = val.report.macro_f1, val_acc = val.report.accuracy, val_loss = val.loss;
    }
    double lr_now = opt->lr();
    char row[256];
    std::snprintf(row, sizeof(row), "%.6f,%.6f,%.6f,%.6f,%.6f,%.8g,%.3f,%.1f", train_loss, train_acc, val_loss, val_acc,
                  val_f1, lr_now, secs, ips);
    log_csv += std::to_string(epoch + 1) + "," + row + "\n";
    history.push_back({{"epoch", epoch + 1}, {"csv", row}, {"train_loss", train_loss}, {"train_accuracy", train_acc},
                       {"val_loss", std::isfinite(val_loss) ? nlohmann::json(val_loss) : nlohmann::json(nullptr)},
                       {"val_accuracy", std::isfinite(val_acc) ? nlohmann::json(val_acc) : nlohmann::json(nullptr)},
                       {"val_macro_f1", std::isfinite(val_f1) ? nlohmann::json(val_f1) : nlohmann::json(nullptr)}});
    tb.scalar("train/loss", train_loss, epoch + 1);
    tb.scalar("train/accuracy", train_acc, epoch + 1);
    tb.scalar("train/lr", lr_now, epoch + 1);
    tb.scalar("train/images_per_second", ips, epoch + 1);
    if (std::isfinite(val_f1)) {
      tb.scalar("val/loss", val_loss, epoch + 1);
      tb.scalar("val/accuracy", val_acc, epoch + 1);
      tb.scalar("val/macro_f1", val_f1, epoch + 1);
    }
    io::write_file_atomically(cfg.out / "log.csv", log_csv);
    if (tty) std::printf("\r");
    if (!cfg.quiet)
      std::printf("epoch %lld/%lld  train loss %.4f acc %.4f  val loss %.4f acc %.4f macro-F1 %.4f  %.1f s, %.0f img/s\n",
                  (long long)epoch + 1, (long long)cfg.epochs, train_loss, train_acc, val_loss, val_acc, val_f1, secs, ips);
    // Checkpoints: best by validation macro-F1 (every epoch's when there is no validation set), then last.
    bool improved = stopper.update(std::isfinite(val_f1) ? val_f1 : -double(epoch));
    if (improved) res.best_epoch = epoch + 1, res.best_val_f1 = val_f1;
    nlohmann::json st = {{"epoch", epoch + 1}, {"rng", generator_state_json(default_generator())},
                         {"history", history}, {"best_epoch", res.best_epoch},
                         {"best_val_f1", std::isfinite(res.best_val_f1) ? nlohmann::json(res.best_val_f1) : nlohmann::json(nullptr)},
                         {"bad_epochs", stopper.bad_epochs()}, {"train_seconds", res.train_seconds},
                         {"images_seen", images_seen},
                         {"config", {{"seed", cfg.seed}, {"optimizer", cfg.optimizer}, {"lr", cfg.lr}}}};
    if (improved) save_checkpoint(cfg.out / "checkpoints" / "best", model, nullptr, st);
    save_checkpoint(cfg.out / "checkpoints" / "last", model, opt.get(), st);
    if (cfg.checkpointed) cfg.checkpointed(epoch + 1);
    res.epochs_run = epoch + 1;
    if (stopper.should_stop()) {
      res.stopped_early = true;
      if (!cfg.quiet) std::printf("early stopping: no validation macro-F1 improvement for %lld epochs\n", (long long)cfg.patience);
      break;
    }
  }
  res.images_per_second = res.train_seconds > 0 ? double(images_seen) / res.train_seconds : 0;
  // A run whose last epoch was checkpointed before a kill (metrics.json missing) reports its epochs as trained.
  if (res.epochs_run == 0) res.epochs_run = start_epoch;

  // Final evaluation with the best weights.
  if (std::filesystem::exists(cfg.out / "checkpoints" / "best" / "model.safetensors") ||
      std::filesystem::exists(cfg.out / "checkpoints" / "best.old" / "model.safetensors"))
    nn::load_safetensors(model, verified_weights(cfg.out / "checkpoints" / "best").string());
  nlohmann::json m = run_info;
  m["epochs"] = res.epochs_run;
  m["best_epoch"] = res.best_epoch;
  m["best_val_macro_f1"] = std::isfinite(res.best_val_f1) ? nlohmann::json(res.best_val_f1) : nlohmann::json(nullptr);
  m["stopped_early"] = res.stopped_early;
  m["wall_seconds"] = res.train_seconds;
  m["images_per_second"] = res.images_per_second;
  m["history"] = history;
  if (val_set && val_set->size() > 0) {
    EvalResult v = evaluate(model, *val_set, eval_pp, cfg.batch_size * 2);
    m["val"] = v.report.to_json(val_set->class_names());
    m["val"]["loss"] = v.loss;
  }
  if (test_set && test_set->size() > 0) {
    EvalResult t = evaluate(model, *test_set, eval_pp, cfg.batch_size * 2);
    m["test"] = t.report.to_json(test_set->class_names());
    m["test"]["loss"] = t.loss;
    write_eval_outputs(cfg.out, *test_set, t);
    report::write_test_summaries(tb, *test_set, t.report, t.loss, t.probs, cfg.out, res.epochs_run);
    if (!cfg.quiet)
      std::printf("test: accuracy %.4f  macro-F1 %.4f  AUROC %.4f  ECE %.4f\n", t.report.accuracy, t.report.macro_f1,
                  t.report.auroc_macro, t.report.ece);
  }
  // Training curves.
  if (!history.empty()) {
    report::LineChart chart{"Training curves", "epoch", "value", {}};
    report::Series tl{"train loss", {}, {}, {}}, ta{"train accuracy", {}, {}, {}}, va{"val accuracy", {}, {}, {}},
        vf{"val macro-F1", {}, {}, {}};
    for (const auto& h : history) {
      double e = double(h["epoch"].get<int64_t>());
      tl.x.push_back(e), tl.y.push_back(h["train_loss"].get<double>());
      ta.x.push_back(e), ta.y.push_back(h["train_accuracy"].get<double>());
      va.x.push_back(e), va.y.push_back(h["val_accuracy"].is_number() ? h["val_accuracy"].get<double>() : NAN);
      vf.x.push_back(e), vf.y.push_back(h["val_macro_f1"].is_number() ? h["val_macro_f1"].get<double>() : NAN);
    }
    chart.series = {tl, ta, va, vf};
    report::save_line_chart_png(chart, cfg.out / "curves.png");
  }
  report::write_run_hparams(tb, cfg, run_info);
  io::write_file_atomically(cfg.out / "metrics.json", m.dump(2) + "\n");
  report::write_yaml_file(cfg.out / "metrics.yaml", m);
  res.metrics = m;
  return res;
}

}  // namespace fer::train
