#pragma once
// What a training run records as it goes and when it ends, all in OUT: log.csv and the history (one row per epoch),
// TensorBoard scalars, the epoch's line on stdout; at the end the test split's predictions.csv and plots, curves.png,
// the run's hyper-parameters in TensorBoard, metrics.json and metrics.yaml.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/data/image_set.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/report/plot.hpp"
#include "fer/report/tensorboard.hpp"
#include "fer/report/tensorboard_summaries.hpp"
#include "fer/report/yaml.hpp"
#include "fer/train/eval_outputs.hpp"
#include "fer/train/evaluate.hpp"
#include "fer/train/run_checkpoints.hpp"
#include "fer/train/train_config.hpp"
#include "fer/train/train_epoch.hpp"
#include "fer/io/json_text.hpp"

namespace fer::train {

// A split's entry in metrics.json: the classification report and the mean loss.
inline nlohmann::json split_metrics(const EvalResult& r, const data::ImageSet& set) {
  nlohmann::json j = r.report.to_json(set.class_names());
  j["loss"] = r.loss;
  return j;
}

// curves.png: train loss and accuracy, validation accuracy and macro-F1 per epoch.
inline void save_training_curves(const nlohmann::json& history, const std::filesystem::path& path) {
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
  report::save_line_chart_png(chart, path);
}

class RunRecorder {
 public:
  RunRecorder(const TrainConfig& cfg, const nlohmann::json& run_info)
      : cfg_(cfg), run_info_(run_info), tb_(cfg.out / "tensorboard") {}

  // Epoch `epoch` (1-based) into `history`, TensorBoard and log.csv, and its line.
  void epoch(nlohmann::json& history, int64_t epoch, const EpochStats& t, const EpochValidation& v, double lr) {
    char row[256];
    std::snprintf(row, sizeof(row), "%.6f,%.6f,%.6f,%.6f,%.6f,%.8g,%.3f,%.1f", t.loss, t.accuracy, v.loss, v.accuracy,
                  v.macro_f1, lr, t.seconds, t.images_per_second);
    history.push_back({{"epoch", epoch}, {"csv", row}, {"train_loss", t.loss}, {"train_accuracy", t.accuracy},
                       {"val_loss", number_or_null(v.loss)}, {"val_accuracy", number_or_null(v.accuracy)},
                       {"val_macro_f1", number_or_null(v.macro_f1)}});
    tb_.scalar("train/loss", t.loss, epoch);
    tb_.scalar("train/accuracy", t.accuracy, epoch);
    tb_.scalar("train/lr", lr, epoch);
    tb_.scalar("train/images_per_second", t.images_per_second, epoch);
    if (std::isfinite(v.macro_f1)) {
      tb_.scalar("val/loss", v.loss, epoch);
      tb_.scalar("val/accuracy", v.accuracy, epoch);
      tb_.scalar("val/macro_f1", v.macro_f1, epoch);
    }
    std::string log_csv = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_macro_f1,lr,seconds,images_per_second\n";
    for (const auto& h : history)
      log_csv += std::to_string(h["epoch"].get<int64_t>()) + "," + h["csv"].get<std::string>() + "\n";
    io::write_file_atomically(cfg_.out / "log.csv", log_csv);
    if (!cfg_.quiet)
      std::printf("epoch %lld/%lld  train loss %.4f acc %.4f  val loss %.4f acc %.4f macro-F1 %.4f  %.1f s, %.0f img/s\n",
                  (long long)epoch, (long long)cfg_.epochs, t.loss, t.accuracy, v.loss, v.accuracy, v.macro_f1, t.seconds,
                  t.images_per_second);
  }

  // Why the run stopped before its last epoch.
  void early_stop() const {
    if (!cfg_.quiet)
      std::printf("early stopping: no validation macro-F1 improvement for %lld epochs\n", (long long)cfg_.patience);
  }

  // metrics.json's account of the run (the caller adds "val" and "test").
  nlohmann::json summary(const RunProgress& p, bool stopped_early) const {
    nlohmann::json m = run_info_;
    m["epochs"] = p.epochs;
    m["best_epoch"] = p.best_epoch;
    m["best_val_macro_f1"] = number_or_null(p.best_val_f1);
    m["stopped_early"] = stopped_early;
    m["wall_seconds"] = p.train_seconds;
    m["images_per_second"] = p.images_per_second();
    m["history"] = p.history;
    return m;
  }

  // The test split's predictions.csv, confusion matrix and reliability plots, TensorBoard summaries, and its line.
  void test(const data::ImageSet& set, const EvalResult& r, int64_t epochs) {
    write_eval_outputs(cfg_.out, set, r);
    report::write_test_summaries(tb_, set, r.report, r.loss, r.probs, cfg_.out, epochs);
    if (!cfg_.quiet)
      std::printf("test: accuracy %.4f  macro-F1 %.4f  AUROC %.4f  ECE %.4f\n", r.report.accuracy, r.report.macro_f1,
                  r.report.auroc_macro, r.report.ece);
  }

  // curves.png, the hyper-parameters, metrics.json and metrics.yaml.
  void finish(const nlohmann::json& metrics) {
    if (!metrics.at("history").empty()) save_training_curves(metrics.at("history"), cfg_.out / "curves.png");
    report::write_run_hparams(tb_, cfg_, run_info_);
    io::write_file_atomically(cfg_.out / "metrics.json", fer::io::dump_json(metrics, 2) + "\n");
    report::write_yaml_file(cfg_.out / "metrics.yaml", metrics);
  }

 private:
  const TrainConfig& cfg_;
  nlohmann::json run_info_;
  report::EventWriter tb_;
};

}  // namespace fer::train
