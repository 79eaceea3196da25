// evaluate: a trained model on a split, with the full metric set and the run outputs.
//   evaluate --run runs/r18                          # everything from runs/r18/config.json; the run's data, test
//                                                    # split -> runs/r18/eval/test-<data fingerprint>/
//   evaluate --run runs/r18 --data_root other.csv    # the run's model on other data
//   evaluate --run runs/r18 --weights r18.safetensors
//   evaluate --run runs/r18 --groups "positive=happy,surprise;negative=angry,disgust,fear,sad;neutral=neutral"
//   evaluate --run runs/r18 --run runs/d121 --run runs/cnx   # an ensemble: mean probabilities and majority vote
//   evaluate --checkpoint runs/r18/checkpoints/best --model resnet18 --data_root fer2013.csv --input_size 64 \
//            --out runs/r18_eval                     # without a run directory: every setting given
// A flag given together with --run that contradicts the run's config.json is an error. Every evaluation also writes
// one-vs-rest ROC/PR curves (curves.csv, roc.png, pr.png) and confidence histograms of correct vs incorrect answers.
#include <cstdio>
#include <string>

#include "fer/cli/program.hpp"
#include "fer/data/sources.hpp"
#include "fer/nn/load_weights.hpp"
#include "fer/train/run_eval.hpp"
#include "fer/train/run_flags.hpp"
#include "fer/train/validate_settings.hpp"
#include "fer/analysis/ensemble.hpp"
#include "fer/data/subsets.hpp"
#include "fer/metrics/subgroup_report.hpp"
#include "fer/report/curves_plot.hpp"
#include "fer/io/json_text.hpp"
#include "models/model_factory.hpp"

namespace evaluate_program {

using namespace fer;

namespace {

// `evaluate --run A --run B ...`: every member on the same images (each with its own model, input size and
// normalization from its config.json), then the mean-probability and majority-vote ensembles and the paired-bootstrap
// CI of the ensemble's macro-F1 gain over its best member.
nlohmann::json evaluate_ensemble(const std::vector<std::string>& runs, const data::ImageSet& set, int64_t batch_size,
                                 const std::filesystem::path& dir, uint64_t seed) {
  std::vector<analysis::MemberPredictions> members;
  nlohmann::json member_info = nlohmann::json::array();
  for (const std::string& run : runs) {
    train::RunConfig rc = train::load_run_config(run);
    train::check_run_classes(rc, set, run);
    auto m = train::make_run_model(rc, models::zoo_factory());
    std::filesystem::path w = train::run_weights(run);
    std::printf("  weights %s\n", nn::load_weights(*m, w.string()).summary(w.string()).c_str());  // strict
    train::EvalResult r = train::evaluate(*m, set, rc.preprocess(), batch_size);
    analysis::MemberPredictions mp{run, {}, r.labels, r.probs, rc.num_classes};
    for (int64_t i = 0; i < set.size(); ++i) mp.ids.push_back(set.id(i));
    members.push_back(std::move(mp));
    member_info.push_back({{"run", run}, {"model", rc.model}, {"weights", w.string()}});
    std::printf("  member %s (%s): %s\n", run.c_str(), rc.model.c_str(),
                train::metrics_line(r.report.to_json(set.class_names())).c_str());
  }
  analysis::EnsembleOptions eo;
  eo.seed = seed;
  analysis::EnsembleReport rep = analysis::evaluate_ensemble(members, eo);
  nlohmann::json j = rep.to_json(set.class_names());
  j["member_runs"] = member_info;
  j["images"] = set.size();
  std::vector<int32_t> labels = members[0].labels;
  report::write_curve_outputs(dir, rep.mean_probs, labels, set.class_names());
  io::write_file_atomically(dir / "ensemble.json", fer::io::dump_json(j, 2) + "\n");
  return j;
}

}  // namespace

int program_main(int argc, char** argv) {
  // Progress lines must reach a log file as they happen, not when the run ends.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<CLI::App> app_owner = fer::cli::make_app("Evaluate a fer model", /*show_defaults=*/true);
  CLI::App& app = *app_owner;
  std::vector<std::string> runs;
  std::string run, checkpoint, groups, weights, model = "custom_cnn", data_root, split = "test", out, ferplus;
  int64_t input_size = 48, batch_size = 128, max_classes = 0, limit_eval = 0, hidden_head = 0;
  bool imagenet_norm = false;
  app.add_option("--run", runs, "a run directory written by train: model, classes, input and data from its config.json; "
                 "given several times: an ensemble of those runs on the first run's data");
  app.add_option("--groups", groups, "emotion groups, e.g. \"positive=happy,surprise;negative=angry,disgust,fear,sad;"
                 "neutral=neutral\": metrics with probabilities summed within groups");
  app.add_option("--checkpoint", checkpoint, "checkpoint directory, or a weights file (safetensors or PyTorch .pt/.pth; default with --run: its best); loaded strictly");
  app.add_option("--weights", weights, "a weights file instead of a checkpoint: safetensors or PyTorch .pt/.pth (loaded strictly)");
  app.add_option("--model", model);
  app.add_option("--hidden_head", hidden_head, "> 0: the model has the transfer head of this width");
  app.add_option("--data_root", data_root, "fashion-mnist, a FER2013 CSV or an image-folder root (default with --run: the run's)");
  app.add_option("--ferplus", ferplus);
  std::string label_space;
  app.add_option("--label_space", label_space, "class order of numbered folders: fer2013, affectnet, ferplus or custom:a,b,...");
  app.add_option("--split", split, "train, val or test");
  app.add_option("--input_size", input_size);
  app.add_option("--batch_size", batch_size, "default with --run: twice the run's, as train evaluates");
  app.add_option("--max_classes", max_classes);
  app.add_option("--limit_eval", limit_eval);
  app.add_flag("--imagenet_norm", imagenet_norm);
  app.add_option("--out", out, "output directory (default with --run: RUN/eval/<split>-<data fingerprint>, else runs/eval)");
  data::SubsetOptions subset;  // issue 13: evaluate an attribute subset, metrics per subgroup
  std::string subgroups;
  metrics::BootstrapOptions boot;
  app.add_option("--attributes", subset.attributes, "per-image attributes CSV (file,<attr>,...): metrics per subgroup");
  app.add_option("--subset", subset.subset, "evaluate only images with these attribute values, e.g. gender=female");
  app.add_option("--subgroups", subgroups, "attributes to report per subgroup (comma-separated; default: all)");
  app.add_option("--bootstrap", boot.resamples, "bootstrap resamples of the subgroup confidence intervals");
  app.add_option("--bootstrap_seed", boot.seed);
  if (auto code = fer::cli::parse(app, argc, argv)) return *code;
  try {
    if (!runs.empty()) run = runs[0];
    FER_CHECK(runs.size() < 2 || (checkpoint.empty() && weights.empty()),
              "an ensemble (--run given several times) uses each run's own weights; --checkpoint/--weights do not apply");
    FER_CHECK(split == "train" || split == "val" || split == "test", "--split must be train, val or test, got '", split, "'");
    FER_CHECK(checkpoint.empty() || weights.empty(), "--checkpoint and --weights are alternatives; give one");
    FER_CHECK(weights.empty() || std::filesystem::is_regular_file(weights), "--weights ", weights, ": no such file");
    data::DataOptions dopt;
    train::RunConfig rc;
    if (!run.empty()) {
      rc = train::load_run_config(run);
      const nlohmann::json j = rc.to_json();
      const std::string origin = train::run_config_path(run).string();
      // Model and preprocessing flags given must agree with the run (the model is built from rc below); data flags
      // apply to the run's data source only.
      train::config_arguments(app, {{"model", j["model"]}, {"input_size", j["input_size"]},
                                    {"imagenet_norm", j["imagenet_norm"]}, {"hidden_head", j["hidden_head"]}},
                              origin, {});
      const bool runs_data = app.count("--data_root") == 0;
      if (runs_data) {
        const train::RunData rd = train::run_data(rc, origin);
        FER_CHECK(!rd.root.empty(), origin, ": no data.data_root recorded; give --data_root");
        data_root = rd.root;
        dopt = rd.options;  // the flags below that are given replace the run's values
        if (app.count("--ferplus") == 0) ferplus = dopt.ferplus_csv;
        if (app.count("--max_classes") == 0) max_classes = dopt.max_classes;
        if (app.count("--limit_eval") == 0) limit_eval = dopt.limit_eval;
        if (app.count("--label_space") == 0) label_space = dopt.label_space;
      }
      if (app.count("--batch_size") == 0) batch_size = 2 * j["train"].value("batch_size", int64_t(64));
    } else {
      FER_CHECK(!checkpoint.empty() || !weights.empty(), "give --run DIR, or --checkpoint/--weights with --model and --data_root");
      FER_CHECK(!data_root.empty(), "--data_root is required without --run");
      train::check_model_name(model, models::model_names());
      train::check_input_size(model, input_size);
    }
    train::check_batch_size(batch_size);
    if (!out.empty()) train::check_writable_dir(out);

    dopt.ferplus_csv = ferplus, dopt.max_classes = max_classes, dopt.limit_eval = limit_eval, dopt.label_space = label_space;
    data::Splits s = data::load_splits(data_root, dopt);
    std::shared_ptr<data::ImageSet> set = split == "train" ? s.train : split == "val" ? s.val : s.test;
    FER_CHECK(set->size() > 0, data_root, ": the ", split, " split is empty");
    set = data::apply_subset_options(set, subset);
    if (run.empty()) {
      rc.model = model, rc.num_classes = set->num_classes(), rc.class_names = set->class_names();
      rc.input_size = input_size, rc.hidden_head = hidden_head, rc.imagenet_norm = imagenet_norm;
      data::Preprocess pp = imagenet_norm ? data::Preprocess::imagenet(input_size) : data::Preprocess{};
      rc.mean = pp.mean, rc.std = pp.std, rc.channels = pp.channels;
    } else {
      train::check_run_classes(rc, *set, run);
    }
    if (runs.size() > 1) {
      std::filesystem::path dir = !out.empty() ? std::filesystem::path(out)
                                               : std::filesystem::path(run) / "eval" / ("ensemble-" + split + "-" +
                                                                                         train::split_fingerprint(*set));
      std::printf("ensemble of %zu runs on %s (%lld images)\n", runs.size(), split.c_str(), (long long)set->size());
      nlohmann::json e = evaluate_ensemble(runs, *set, batch_size, dir, boot.seed);
      std::printf("ensemble (mean probability): %s\nmajority vote: accuracy %.4f  macro-F1 %.4f\n"
                  "macro-F1 gain over the best member (%s): %+.4f [%+.4f, %+.4f] -> %s\n",
                  train::metrics_line(e["mean_probability"]).c_str(), e["majority_vote"]["accuracy"].get<double>(),
                  e["majority_vote"]["macro_f1"].get<double>(), e["best_member"].get<std::string>().c_str(),
                  e["macro_f1_gain_over_best_member"]["difference"].get<double>(),
                  e["macro_f1_gain_over_best_member"]["ci95_low"].get<double>(),
                  e["macro_f1_gain_over_best_member"]["ci95_high"].get<double>(), dir.string().c_str());
      return 0;
    }
    auto m = train::make_run_model(rc, models::zoo_factory());
    std::filesystem::path w = !weights.empty() ? std::filesystem::path(weights)
                              : !checkpoint.empty() ? train::verified_weights(checkpoint)
                                                    : train::run_weights(run);
    std::printf("weights %s\n", nn::load_weights(*m, w.string()).summary(w.string()).c_str());  // strict
    std::filesystem::path dir = !out.empty() ? std::filesystem::path(out)
                                : !run.empty() ? train::run_eval_dir(run, split, *set)
                                               : std::filesystem::path("runs/eval");
    nlohmann::json info = {{"weights", w.string()}, {"split", split}, {"data", s.description}, {"model", rc.model}};
    if (!run.empty()) info["run"] = run;
    nlohmann::json j = train::evaluate_into(*m, *set, rc.preprocess(), batch_size, dir, info,
                                            [&](const train::EvalResult& r, nlohmann::json& metrics) {
                                              train::add_curves_and_groups(dir, r, set->class_names(), groups, metrics);
                                              if (subset.attributes.empty()) return;
                                              metrics["subgroups"] = metrics::write_subgroup_reports(
                                                  dir, metrics::predictions_of(*set, r.labels, r.probs), subset.attributes,
                                                  subgroups, boot);
                                            });
    if (j.contains("groups"))
      std::printf("grouped (%s): accuracy %.4f  macro-F1 %.4f\n", groups.c_str(), j["groups"]["accuracy"].get<double>(),
                  j["groups"]["macro_f1"].get<double>());
    std::printf("%s on %s (%lld images): %s -> %s\n", rc.model.c_str(), split.c_str(), (long long)set->size(),
                train::metrics_line(j).c_str(), dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evaluate: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace evaluate_program
