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

#include "fer/data/sources.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/io/sha256.hpp"
#include "fer/metrics/groups.hpp"
#include "fer/report/curves_plot.hpp"
#include "fer/report/yaml.hpp"
#include "fer/nn/layers.hpp"
#include "fer/train/checkpoint.hpp"
#include "fer/train/model_factory.hpp"
#include "fer/train/run_config.hpp"
#include "fer/train/run_description.hpp"
#include "fer/train/eval_outputs.hpp"
#include "fer/train/evaluate.hpp"
#include "fer/io/json_text.hpp"

namespace fer::train {

inline std::filesystem::path run_eval_dir(const std::filesystem::path& run_dir, const std::string& split,
                                          const data::ImageSet& set) {
  return run_dir / "eval" / (split + "-" + split_fingerprint(set));
}

// The model a run trained (architecture, classes, input size, hidden head), with fresh weights from `make_model`.
inline std::shared_ptr<nn::Layer> make_run_model(const RunConfig& c, const ModelFactory& make_model) {
  Generator unused(0);
  return make_model({c.model, c.num_classes, c.input_size, c.hidden_head, c.hidden_head > 0 ? c.head_dropout : 0.5}, unused);
}

// The data source a run was trained and tested on, as config.json records it: its root (empty if none is recorded)
// and the options that rebuild exactly its splits: classes kept, limits, cleaning, label space, and the seed and
// fraction of the validation carve (a sweep records its own seed as data.split_seed, else the run's seed chose it).
struct RunData {
  std::string root;
  data::DataOptions options;
};

inline RunData run_data(const RunConfig& c, const std::string& origin) {
  const nlohmann::json& d = c.data;
  auto typed = [&](const char* key, auto& dst, bool (nlohmann::json::*is)() const noexcept, const char* what) {
    auto it = d.find(key);
    if (it == d.end() || it->is_null()) return;
    FER_CHECK(((*it).*is)(), origin, ": data.", key, " is not ", what, " (", it->type_name(), ")");
    it->get_to(dst);
  };
  RunData r;
  data::DataOptions& o = r.options;
  typed("data_root", r.root, &nlohmann::json::is_string, "a string");
  typed("ferplus", o.ferplus_csv, &nlohmann::json::is_string, "a string");
  typed("max_classes", o.max_classes, &nlohmann::json::is_number_integer, "an integer");
  typed("limit_train", o.limit_train, &nlohmann::json::is_number_integer, "an integer");
  typed("limit_eval", o.limit_eval, &nlohmann::json::is_number_integer, "an integer");
  typed("clean", o.clean, &nlohmann::json::is_boolean, "true or false");
  typed("label_space", o.label_space, &nlohmann::json::is_string, "a string");
  typed("val_fraction", o.val_fraction, &nlohmann::json::is_number, "a number");
  if (d.contains("split_seed")) typed("split_seed", o.seed, &nlohmann::json::is_number_unsigned, "a seed");
  else if (c.train.contains("seed") && c.train["seed"].is_number_unsigned()) o.seed = c.train["seed"].get<uint64_t>();
  return r;
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

// What `evaluate` and `analyze curves` add to an evaluation: one-vs-rest ROC/PR curves, average precision and
// confidence histograms (files in `dir`, summary in out["curves"]) and, given a --groups spec, the metrics of
// those emotion groups (out["groups"]).
inline void add_curves_and_groups(const std::filesystem::path& dir, const EvalResult& r,
                                  const std::vector<std::string>& class_names, const std::string& groups,
                                  nlohmann::json& out) {
  auto curves = report::write_curve_outputs(dir, r.probs, r.labels, class_names);
  out["curves"] = metrics::curves_summary_json(curves, class_names);
  if (groups.empty()) return;
  metrics::EmotionGroups g = metrics::parse_emotion_groups(groups, class_names);
  out["groups"] = metrics::grouped_report(r.probs, r.labels, int64_t(class_names.size()), g).to_json(g.names);
  out["groups"]["spec"] = groups;
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
  io::write_file_atomically(out / "metrics.json", fer::io::dump_json(j, 2) + "\n");
  report::write_yaml_file(out / "metrics.yaml", j);
  return j;
}

}  // namespace fer::train
