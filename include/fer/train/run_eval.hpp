#pragma once
// Evaluation of a run directory's model on one split, written beside the run's own results and never over them:
// DIR/eval/<split>-<data fingerprint>/ (metrics.json, metrics.yaml, predictions.csv, confusion_matrix.png,
// reliability.png). The fingerprint names the exact selection of images (train/run_description.hpp), so evaluations
// on other data or another --limit_eval land in their own directories.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fer/io/sha256.hpp"
#include "fer/train/checkpoint.hpp"
#include "fer/train/run_config.hpp"
#include "fer/train/run_description.hpp"
#include "fer/train/trainer.hpp"
#include "models/registry.hpp"

namespace fer::train {

inline std::filesystem::path run_eval_dir(const std::filesystem::path& run_dir, const std::string& split,
                                          const data::ImageSet& set) {
  return run_dir / "eval" / (split + "-" + split_fingerprint(set));
}

// The model a run trained (architecture, classes, input size, hidden head), with fresh weights.
inline std::shared_ptr<nn::Layer> make_run_model(const RunConfig& c) {
  Generator unused(0);
  return models::make_model(c.model, c.num_classes, c.input_size, unused, c.hidden_head,
                            c.hidden_head > 0 ? c.head_dropout : 0.5);
}

// The data a run's model is evaluated on must have the run's classes, in its order.
inline void check_run_classes(const RunConfig& c, const data::ImageSet& set, const std::string& run_dir) {
  auto join = [](const std::vector<std::string>& v) {
    std::string r;
    for (const auto& x : v) r += (r.empty() ? "" : ", ") + x;
    return r;
  };
  FER_CHECK(c.class_names == set.class_names(), "the data's classes [", join(set.class_names()), "] differ from the run's [",
            join(c.class_names), "] (", run_config_path(run_dir).string(), ")");
}

// The weights a finished run reports its test metrics with: checkpoints/best, or checkpoints/last when the run had
// no best (verified either way).
inline std::filesystem::path run_weights(const std::filesystem::path& run_dir) {
  const std::filesystem::path best = run_dir / "checkpoints" / "best";
  if (std::filesystem::exists(best / "trainer.json") || std::filesystem::exists(best.string() + ".old/trainer.json"))
    return verified_weights(best);
  return verified_weights(run_dir / "checkpoints" / "last");
}

// "accuracy 0.8123  macro-F1 0.8011  AUROC 0.9712  ECE 0.0213" from a metrics object (AUROC may be null).
inline std::string metrics_line(const nlohmann::json& j) {
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN; };
  char b[160];
  std::snprintf(b, sizeof(b), "accuracy %.4f  macro-F1 %.4f  AUROC %.4f  ECE %.4f", num("accuracy"), num("macro_f1"),
                num("auroc_macro"), num("ece"));
  return b;
}

// Evaluates `model` on `set` and writes the outputs and metrics.json (the report plus `info`) into `out`. `extend`,
// when given, adds further results (e.g. per-subgroup metrics) to metrics.json before it is written.
template <class Model>
nlohmann::json evaluate_into(Model& model, const data::ImageSet& set, const data::Preprocess& pp, int64_t batch_size,
                             const std::filesystem::path& out, const nlohmann::json& info,
                             const std::function<void(const EvalResult&, nlohmann::json&)>& extend = {}) {
  EvalResult r = evaluate(model, set, pp, batch_size);
  std::filesystem::create_directories(out);
  write_eval_outputs(out, set, r);
  nlohmann::json j = info;
  j.update(r.report.to_json(set.class_names()));
  j["loss"] = r.loss;
  j["images"] = set.size();
  j["split_fingerprint"] = describe_split(set);
  if (extend) extend(r, j);
  io::write_file_atomically(out / "metrics.json", j.dump(2) + "\n");
  YAML::Emitter yaml;
  yaml << report::to_yaml(j);
  io::write_file_atomically(out / "metrics.yaml", std::string(yaml.c_str()) + "\n");
  return j;
}

}  // namespace fer::train
