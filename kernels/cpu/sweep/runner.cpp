// One run of the study (sweep/runner.hpp): mix, run directory checks, model, training.
#include "fer/sweep/runner.hpp"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

#include "fer/data/mixing.hpp"
#include "fer/io/sha256.hpp"
#include "fer/nn/layers.hpp"
#include "fer/nn/load_weights.hpp"
#include "fer/train/run_config.hpp"
#include "fer/train/run_description.hpp"
#include "fer/io/json_text.hpp"

namespace fer::sweep {

namespace {

std::string augment_name(const RunSettings& s) {
  if (!s.augment) return "none";
  if (s.auto_augment != data::AutoAugmentKind::none) return data::auto_augment_name(s.auto_augment);
  return s.light_augment ? "light" : "standard";
}

// Everything that shapes this run, as config.json will hold it (keys in train/data named as train's flags).
train::RunConfig make_run_config(const RunSpec& run, const StudyData& d, const RunSettings& s,
                                        const data::Preprocess& eval_pp, const data::Mix& mix) {
  train::RunConfig c;
  const train::TrainConfig& t = s.train;
  c.model = run.model;
  c.num_classes = d.real_train->num_classes();
  c.class_names = d.real_train->class_names();
  c.input_size = eval_pp.size;
  c.channels = eval_pp.channels;
  c.imagenet_norm = s.imagenet_norm;
  c.mean = eval_pp.mean, c.std = eval_pp.std;
  c.hidden_head = s.hidden_head;
  c.head_dropout = s.hidden_head > 0 ? s.head_dropout : 0.0;
  c.drop_path = s.drop_path;  // < 0: the model's own default
  c.train = {{"epochs", t.epochs}, {"batch_size", t.batch_size}, {"seed", run.seed}, {"optimizer", t.optimizer},
             {"lr", t.lr}, {"weight_decay", t.weight_decay}, {"momentum", t.momentum}, {"nesterov", t.nesterov},
             {"sam_rho", t.sam_rho}, {"no_decay_norm_bias", t.no_decay_norm_bias},
             {"backbone_lr_mult", t.backbone_lr_mult}, {"head_prefixes", t.head_prefixes}, {"freeze", t.freeze_prefixes},
             {"schedule", t.schedule}, {"warmup_epochs", t.warmup_epochs}, {"step_epochs", t.step_epochs},
             {"step_gamma", t.step_gamma}, {"loss", "ce"}, {"label_smoothing", t.label_smoothing},
             {"class_weights", t.class_weights}, {"sampler", t.balanced_sampler ? "balanced" : "random"},
             {"grad_clip", t.grad_clip}, {"patience", t.patience}, {"amp", t.amp}, {"limit_batches", t.limit_batches},
             {"augment", augment_name(s)}, {"pretrained", s.pretrained},
             {"pretrained_sha256", s.pretrained.empty() ? "" : io::sha256_file(s.pretrained)},
             {"synthetic_mix", {{"mode", s.mix_mode == data::MixOptions::Mode::fixed_total ? "fixed_total" : "add"},
                                {"synthetic_multiple", s.synthetic_multiple}, {"allow_repeats", s.allow_repeats}}}};
  c.data = s.data_info;
  c.data["real_ratio"] = run.real_ratio;
  c.data["description"] = d.description;
  c.data["splits"] = {{"train", train::describe_split(*d.real_train)}, {"val", train::describe_split(*d.val)},
                      {"test", train::describe_split(*d.test)}};
  if (d.synthetic) c.data["synthetic_images"] = train::describe_split(*d.synthetic);
  c.data["mix"] = {{"real_images", mix.real_count()}, {"synthetic_images", mix.synthetic_count()}};
  c.build = train::build_info();
  c.build["device"] = t.device.str();
  return c;
}

bool has_checkpoint(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / "checkpoints" / "last" / "trainer.json") ||
         std::filesystem::exists(dir / "checkpoints" / "last.old" / "trainer.json");
}

// The finished run's result from its metrics.json, when it holds `epochs` epochs (or stopped early).
bool finished_result(const std::filesystem::path& dir, int64_t epochs, train::FitResult& r) {
  if (!std::filesystem::exists(dir / "metrics.json")) return false;
  nlohmann::json m;
  try {
    m = fer::io::parse_json(std::ifstream(dir / "metrics.json"));
  } catch (const std::exception& e) {
    fail((dir / "metrics.json").string(), ": unreadable (", e.what(), ")");
  }
  if (m.value("epochs", int64_t(0)) < epochs && !m.value("stopped_early", false)) return false;
  r.already_finished = true;
  r.epochs_run = m.value("epochs", int64_t(0));
  r.best_epoch = m.value("best_epoch", int64_t(-1));
  r.best_val_f1 = m["best_val_macro_f1"].is_number() ? m["best_val_macro_f1"].get<double>() : NAN;
  r.stopped_early = m.value("stopped_early", false);
  r.train_seconds = m.value("wall_seconds", 0.0);
  r.images_per_second = m.value("images_per_second", 0.0);
  r.metrics = m;
  return true;
}

// DIR -> DIR.replaced-<UTC time>: --force-new keeps what was there.
std::filesystem::path move_aside(const std::filesystem::path& dir) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", std::gmtime(&now));
  std::filesystem::path to = dir.string() + ".replaced-" + stamp;
  for (int k = 2; std::filesystem::exists(to); ++k) to = dir.string() + ".replaced-" + stamp + "-" + std::to_string(k);
  std::filesystem::rename(dir, to);
  return to;
}

}  // namespace

// Trains `run` in `dir` with a model that `make_model` builds.
train::FitResult run_one(const RunSpec& run, const StudyData& d, const RunSettings& s, const std::filesystem::path& dir,
                                const train::ModelFactory& make_model) {
  data::MixOptions mo;
  mo.mode = s.mix_mode;
  mo.real_ratio = run.real_ratio;
  mo.synthetic_multiple = s.synthetic_multiple;
  mo.seed = run.seed;
  mo.allow_repeats = s.allow_repeats;
  std::vector<int32_t> synth_labels = d.synthetic ? d.synthetic->labels() : std::vector<int32_t>{};
  data::Mix mix = data::make_mix(d.real_train->labels(), synth_labels, size_t(d.real_train->num_classes()), mo);

  data::Preprocess eval_pp = s.imagenet_norm ? data::Preprocess::imagenet(s.input_size) : data::Preprocess{};
  eval_pp.size = s.input_size;
  train::RunConfig rc = make_run_config(run, d, s, eval_pp, mix);

  // The directory: fresh, the same run to continue or report, or another run (refused).
  bool resume = false;
  if (s.force_new && std::filesystem::exists(dir) && !std::filesystem::is_empty(dir)) {
    std::filesystem::path aside = move_aside(dir);
    if (!s.train.quiet) std::printf("--force-new: the previous contents of %s are kept in %s\n", dir.string().c_str(), aside.string().c_str());
  } else if (std::filesystem::exists(train::run_config_path(dir))) {
    train::RunConfig old = train::load_run_config(dir);
    std::vector<std::string> diff = rc.differences(old, "now", "in " + train::run_config_path(dir).string());
    if (!diff.empty()) {
      std::string list;
      for (const auto& x : diff) list += "\n  " + x;
      fail(dir.string(), " holds a run with other settings (fingerprint ", old.settings_fingerprint(), ", now ",
           rc.settings_fingerprint(), "):", list, "\nTrain into a new --out, or pass --force-new to start afresh (the "
           "old directory is kept, renamed to ", dir.string(), ".replaced-<time>).");
    }
    train::FitResult done;
    if (finished_result(dir, s.train.epochs, done)) {
      if (!s.train.quiet)
        std::printf("%s: this run is already finished (%lld epochs, same settings, fingerprint %s); nothing changed\n",
                    dir.string().c_str(), (long long)done.epochs_run, rc.settings_fingerprint().c_str());
      return done;
    }
    resume = has_checkpoint(dir);
  } else {
    FER_CHECK(!has_checkpoint(dir) && !std::filesystem::exists(dir / "metrics.json"), dir.string(),
              " holds a run without config.json (written by an older fer), so whether its settings match cannot be "
              "told. Train into a new --out, or pass --force-new to start afresh (the old directory is kept, renamed).");
  }
  std::filesystem::create_directories(dir);
  {
    // Rewritten only when it changes (e.g. more epochs), so a continued run's file keeps its time otherwise.
    std::string text;
    if (std::filesystem::exists(train::run_config_path(dir))) {
      std::ifstream in(train::run_config_path(dir));
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    if (text != fer::io::dump_json(rc.to_json(), 2) + "\n") train::save_run_config(dir, rc);
  }
  std::vector<std::string> real_ids, synth_ids;
  for (int64_t i = 0; i < d.real_train->size(); ++i) real_ids.push_back(d.real_train->id(i));
  if (d.synthetic)
    for (int64_t i = 0; i < d.synthetic->size(); ++i) synth_ids.push_back(d.synthetic->id(i));
  data::write_mix_manifest(dir / "manifest.csv", mix, real_ids, synth_ids, d.real_train->class_names());
  std::string repeats = data::repeat_summary(mix, d.real_train->class_names());  // also in manifest.csv's repeat column
  if (!repeats.empty() && !s.train.quiet) std::printf("%s\n", repeats.c_str());
  auto empty = std::make_shared<data::InMemoryImageSet>(data::LabeledImages{});
  data::MixedImageSet train_set(d.real_train, d.synthetic ? d.synthetic : empty, mix);

  data::Preprocess train_pp = eval_pp;
  train_pp.augment = s.augment;
  train_pp.aug = s.auto_augment != data::AutoAugmentKind::none ? data::AugmentOptions::named(data::auto_augment_name(s.auto_augment), s.input_size)
                 : s.light_augment                            ? data::AugmentOptions::light(s.input_size)
                                                              : data::AugmentOptions::standard(s.input_size);

  Generator init(run.seed * 7919 + 17);
  manual_seed(run.seed);  // dropout masks
  std::shared_ptr<nn::Layer> model =
      make_model({run.model, d.real_train->num_classes(), s.input_size, s.hidden_head, s.head_dropout, s.drop_path}, init);
  if (!s.pretrained.empty()) {
    nn::WeightsOptions wo;
    wo.pretrained = true;
    nn::WeightsReport rep = nn::load_weights(*model, s.pretrained, wo);
    if (!s.train.quiet) std::printf("pretrained %s\n", rep.summary(s.pretrained).c_str());
  }
  train::TrainConfig cfg = s.train;
  cfg.out = dir;
  cfg.seed = run.seed;
  if (resume) cfg.resume = dir;
  nlohmann::json info = {{"model", run.model}, {"real_ratio", run.real_ratio}, {"seed", run.seed}, {"run", run.id()},
                         {"input_size", s.input_size}, {"data", d.description}, {"drop_path", s.drop_path},
                         {"train_images", train_set.size()}, {"real_images", mix.real_count()},
                         {"synthetic_images", mix.synthetic_count()}};
  return train::fit(*model, train_set, d.val.get(), d.test.get(), train_pp, eval_pp, cfg, info);
}

}  // namespace fer::sweep
