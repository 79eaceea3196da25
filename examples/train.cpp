// train: one model on one data configuration, with the reference projects' flags.
//   train --data_root fer2013.csv --model resnet18 --input_size 64 --epochs 30 --batch_size 64 --lr 1e-3 \
//         --optimizer adamw --sampler balanced --class_weights --label_smoothing 0.1 --out runs/r18
//   train --data_root fashion-mnist --model resnet18 --input_size 32 --epochs 10 --out runs/fmnist_r18
//   train --resume runs/r18 --epochs 40            # continue (every other setting from runs/r18/config.json)
//   train --epochs 0 --resume runs/r18              # eval-only: into runs/r18/eval/<split>-<data fingerprint>/
// Optional real/synthetic mixing: --synthetic DIR --real_ratio 0.3 (training set only; val/test stay real).
// An existing --out is resumed only when its config.json has the same settings; --force-new starts afresh.
#include <csignal>
#include <cstdio>
#include <string>

#include "fer/cli/program.hpp"
#include "fer/data/sources.hpp"
#include "fer/data/sampling.hpp"
#include "fer/data/subsets.hpp"
#include "fer/metrics/subgroup_report.hpp"
#include "fer/sweep/runner.hpp"
#include "fer/train/run_eval.hpp"
#include "fer/train/run_flags.hpp"
#include "fer/train/validate_settings.hpp"
#include "models/model_factory.hpp"

namespace train_program {

using namespace fer;

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void request_stop_on_sigint(int) {
  g_stop = 1;
  std::signal(SIGINT, SIG_DFL);
}

const std::string kDefaultOut = "runs/train";

// Every flag's value (defaults as --help shows them).
struct TrainFlags {
  std::string data_root, model = "custom_cnn", sampler = "random", loss = "ce", synthetic, ferplus, augment = "standard";
  int64_t input_size = 48, max_classes = 0, limit_train = 0, limit_eval = 0;
  double real_ratio = 1.0;
  bool amp = false, clean = false, imagenet_norm = false;
  std::string amp_dtype = "bf16", device = "cpu", label_space;
  train::TrainConfig cfg;
  std::string out = kDefaultOut, resume;
  std::string pretrained;
  std::vector<std::string> freeze;
  int64_t hidden_head = 0, num_classes = 0;
  double drop_path = -1;
  data::SubsetOptions subset;  // issue 13: attribute subsets of the training set, test metrics per subgroup
  std::string subgroups;
  metrics::BootstrapOptions boot;
  bool force_new = false;
  TrainFlags() { cfg.out = kDefaultOut; }
};

void add_flags(CLI::App& app, TrainFlags& f) {
  train::TrainConfig& cfg = f.cfg;
  app.add_option("--data_root", f.data_root, "fashion-mnist, a FER2013 CSV, or an image-folder root (required, except with --resume)");
  app.add_option("--ferplus", f.ferplus, "fer2013new.csv: FER+ majority-vote labels (8 classes)");
  app.add_option("--label_space", f.label_space, "class order of numbered folders: fer2013, affectnet, ferplus or custom:a,b,...");
  app.add_option("--model", f.model, "custom_cnn, scratch_cnn, mlp, resnet18, resnet50, ...");
  app.add_option("--input_size", f.input_size);
  app.add_option("--epochs", cfg.epochs, "0 with --resume: evaluate the checkpoint only");
  app.add_option("--batch_size", cfg.batch_size);
  app.add_option("--lr", cfg.lr);
  app.add_option("--weight_decay", cfg.weight_decay);
  app.add_option("--momentum", cfg.momentum);
  app.add_option("--optimizer", cfg.optimizer, "sgd, adam, adamw");
  app.add_option("--sam_rho", cfg.sam_rho, "> 0: sharpness-aware minimization (the reference's RobustOptimizer), e.g. 0.05");
  app.add_option("--schedule", cfg.schedule, "none, step, cosine, onecycle");
  app.add_option("--warmup_epochs", cfg.warmup_epochs);
  app.add_option("--sampler", f.sampler, "random or balanced");
  app.add_flag("--class_weights", cfg.class_weights, "inverse-frequency class weights in the loss");
  app.add_option("--loss", f.loss, "ce (cross-entropy)");
  app.add_option("--label_smoothing", cfg.label_smoothing);
  app.add_option("--grad_clip", cfg.grad_clip);
  app.add_option("--patience", cfg.patience, "early stopping on validation macro-F1 (epochs)");
  app.add_option("--augment", f.augment, "standard, light (flip + padded crop), autoaugment, randaugment, trivialaugment (torchvision's policies + light) or none");
  app.add_flag("--imagenet_norm", f.imagenet_norm, "normalize with ImageNet mean/std (pretrained weights)");
  app.add_flag("--amp", f.amp, "mixed precision on CUDA (autocast, f32 master weights)");
  app.add_option("--amp_dtype", f.amp_dtype, "bf16 or fp16 (fp16 adds dynamic loss scaling)");
  app.add_option("--device", f.device, "cpu, cuda or cuda:N");
  app.add_flag("--clean", f.clean, "drop blank and duplicate images (listed)");
  app.add_option("--synthetic", f.synthetic, "synthetic image folder to mix into the training set");
  app.add_option("--real_ratio", f.real_ratio, "real-data ratio of the training set when --synthetic is given");
  app.add_option("--max_classes", f.max_classes);
  app.add_option("--limit_train", f.limit_train);
  app.add_option("--limit_eval", f.limit_eval);
  app.add_option("--resume", f.resume, "a run directory to continue (or, with --epochs 0, to evaluate)");
  app.add_option("--seed", cfg.seed);
  app.add_option("--hidden_head", f.hidden_head, "> 0: classifier -> this many features -> ReLU -> Dropout -> Linear (the reference's transfer head, e.g. 256)");
  app.add_option("--pretrained", f.pretrained, "state dict to start from: safetensors or PyTorch .pt/.pth; only a head that is absent or of another size is re-initialized (reported)");
  app.add_option("--num_classes", f.num_classes, "a check: the data must have this many classes (e.g. 8 for FER+/AffectNet)");
  app.add_option("--drop_path", f.drop_path, "stochastic depth rate (EfficientNets, ConvNeXt); default: the model's own (none for tf_efficientnet_b0_ns, as timm)");
  app.add_option("--freeze", f.freeze, "freeze parameters whose names start with these prefixes (e.g. conv1. layer1.)");
  app.add_option("--attributes", f.subset.attributes, "per-image attributes CSV (file,<attr>,...): test metrics per subgroup");
  app.add_option("--subset", f.subset.subset, "train on images with these attribute values, e.g. gender=female");
  app.add_option("--subset_fraction", f.subset.subset_fraction, "keep these fractions per value, e.g. gender=female:1.0,male:0.75");
  app.add_option("--subgroups", f.subgroups, "attributes to report per subgroup (comma-separated; default: all)");
  app.add_option("--bootstrap", f.boot.resamples, "bootstrap resamples of the subgroup confidence intervals");
  app.add_option("--backbone_lr_mult", cfg.backbone_lr_mult, "learning-rate factor for everything but the head (fc./classifier./head.)");
  app.add_option("--out", f.out);
  app.add_flag("--force-new", f.force_new, "start afresh in an --out that holds another run (which is kept, renamed to OUT.replaced-<time>)");
}

// --resume DIR: every flag not given comes from DIR/config.json; one given with another value is an error.
void take_flags_from_run(CLI::App& app, int argc, char** argv, const TrainFlags& f) {
  const std::filesystem::path cfg_path = train::run_config_path(f.resume);
  FER_CHECK(std::filesystem::exists(cfg_path), "--resume ", f.resume, ": no config.json there (not a run directory "
            "written by this fer; train it anew with --out)");
  nlohmann::json rc = train::load_run_config(f.resume).to_json();
  FER_CHECK(app.count("--amp") == 0 || rc["train"].value("amp", std::string("off")) == f.amp_dtype, "--amp ",
            f.amp_dtype, " contradicts ", cfg_path.string(), ", where amp is ", rc["train"].value("amp", std::string("off")));
  std::vector<std::string> extra = train::config_arguments(
      app, rc, cfg_path.string(), {"epochs", "out", "resume", "device", "data_root", "force-new", "amp", "amp_dtype"});
  if (app.count("--data_root") == 0 && rc["data"].contains("data_root")) extra.insert(extra.end(), {"--data_root", rc["data"]["data_root"].get<std::string>()});
  if (rc["train"].value("amp", std::string("off")) != "off" && app.count("--amp") == 0)
    extra.insert(extra.end(), {"--amp", "--amp_dtype", rc["train"]["amp"].get<std::string>()});
  try {
    train::reparse_with(app, argc, argv, extra);
  } catch (const CLI::ParseError& e) {
    fail(cfg_path.string(), ": its settings do not parse as flags (", e.what(), ")");
  }
}

// Settings that cost nothing to check, before any data is read; sets the device and AMP.
void check_settings(TrainFlags& f) {
  train::TrainConfig& cfg = f.cfg;
  FER_CHECK(!f.data_root.empty(), "--data_root is required (fashion-mnist, a FER2013 CSV or an image-folder root)");
  train::check_model_name(f.model, models::model_names());
  train::check_input_size(f.model, f.input_size);
  train::check_learning_rate(cfg.lr);
  train::check_batch_size(cfg.batch_size);
  FER_CHECK(cfg.epochs >= 0, "--epochs must be >= 0, got ", cfg.epochs);
  FER_CHECK(cfg.epochs > 0 || !f.resume.empty(), "--epochs 0 evaluates a run and needs --resume DIR");
  train::check_fraction(f.real_ratio, "--real_ratio");
  train::check_fraction(cfg.label_smoothing, "--label_smoothing");
  for (auto [v, flag] : {std::pair{cfg.weight_decay, "--weight_decay"}, {cfg.momentum, "--momentum"}, {cfg.sam_rho, "--sam_rho"},
                         {cfg.grad_clip, "--grad_clip"}, {cfg.backbone_lr_mult, "--backbone_lr_mult"}})
    train::check_non_negative(v, flag);
  FER_CHECK(f.hidden_head >= 0, "--hidden_head must be >= 0, got ", f.hidden_head);
  FER_CHECK(f.pretrained.empty() || std::filesystem::is_regular_file(f.pretrained), "--pretrained ", f.pretrained, ": no such file");
  FER_CHECK(f.synthetic.empty() || std::filesystem::is_directory(f.synthetic), "--synthetic ", f.synthetic, ": no such directory");
  FER_CHECK(f.loss == "ce", "--loss ", f.loss, ": only ce (cross-entropy) is available");
  FER_CHECK(f.sampler == "random" || f.sampler == "balanced", "--sampler must be random or balanced");
  FER_CHECK(f.amp_dtype == "bf16" || f.amp_dtype == "fp16", "--amp_dtype must be bf16 or fp16");
  try {
    cfg.device = parse_device(f.device);
  } catch (const std::invalid_argument& e) {
    fail("--device: ", e.what());
  }
  cfg.amp = f.amp ? f.amp_dtype : "off";
  train::check_amp(f.amp, cfg.device);
  if (f.augment != "none") data::AugmentOptions::named(f.augment, f.input_size);  // refuses unknown names
  train::check_writable_dir(f.resume.empty() || f.out != kDefaultOut ? f.out : f.resume, f.resume.empty() ? "--out" : "--resume");
}

// The splits, described on stdout (sizes, notes, what --clean dropped, the class distribution).
data::Splits load_data(const TrainFlags& f) {
  data::DataOptions dopt;
  dopt.ferplus_csv = f.ferplus, dopt.clean = f.clean, dopt.seed = f.cfg.seed, dopt.max_classes = f.max_classes;
  dopt.limit_train = f.limit_train, dopt.limit_eval = f.limit_eval, dopt.label_space = f.label_space;
  data::Splits s = data::load_splits(f.data_root, dopt);
  std::printf("data: %s: %lld train, %lld val, %lld test, %lld classes\n", s.description.c_str(), (long long)s.train->size(),
              (long long)s.val->size(), (long long)s.test->size(), (long long)s.train->num_classes());
  std::printf("%s", data::notes_text(s).c_str());
  if (!s.dropped.empty()) std::printf("--clean dropped %zu images (first: %s; all in cleaning.csv)\n", s.dropped.size(), s.dropped[0].c_str());
  FER_CHECK(f.num_classes == 0 || f.num_classes == s.train->num_classes(), "--num_classes ", f.num_classes, " but the data has ",
            s.train->num_classes(), " classes (see --max_classes, --ferplus)");
  size_t nc = size_t(s.train->num_classes());
  std::printf("%s", data::class_distribution_table(s.train->class_names(), {{"train", data::count_classes(s.train->labels(), nc)},
                                                                            {"val", data::count_classes(s.val->labels(), nc)},
                                                                            {"test", data::count_classes(s.test->labels(), nc)}})
                        .c_str());
  return s;
}

// Eval-only (--epochs 0 --resume DIR): the run's best weights on val and test, into DIR/eval/<split>-<fingerprint>/
// (never metrics.json).
int evaluate_run(const TrainFlags& f, const data::Splits& s) {
  train::RunConfig rc = train::load_run_config(f.resume);
  train::check_run_classes(rc, *s.test, f.resume);
  auto m = train::make_run_model(rc, models::zoo_factory());
  std::filesystem::path weights = train::run_weights(f.resume);
  nn::load_safetensors(*m, weights.string());
  for (auto [name, set] : {std::pair{"val", s.val}, {"test", s.test}}) {
    if (set->size() == 0) continue;
    std::filesystem::path dir = train::run_eval_dir(f.resume, name, *set);
    nlohmann::json j = train::evaluate_into(*m, *set, rc.preprocess(), f.cfg.batch_size * 2, dir,
                                            {{"run", f.resume}, {"weights", weights.string()}, {"split", name},
                                             {"data", s.description}});
    std::printf("%s (%lld images): %s -> %s\n", name, (long long)set->size(), train::metrics_line(j).c_str(),
                dir.string().c_str());
  }
  return 0;
}

// The run as the sweep runner takes it, with what config.json records of the data.
sweep::RunSettings run_settings(const TrainFlags& f, const data::Splits& s) {
  sweep::RunSettings rs;
  rs.input_size = f.input_size;
  rs.augment = f.augment != "none";
  rs.light_augment = f.augment == "light";
  if (f.augment != "none" && f.augment != "standard" && f.augment != "light") rs.auto_augment = data::parse_auto_augment(f.augment);
  rs.imagenet_norm = f.imagenet_norm;
  rs.train = f.cfg;
  rs.train.freeze_prefixes = f.freeze;
  rs.pretrained = f.pretrained;
  rs.hidden_head = f.hidden_head;
  rs.drop_path = f.drop_path;
  rs.train.balanced_sampler = f.sampler == "balanced";
  rs.force_new = f.force_new;
  rs.data_info = {{"data_root", f.data_root},     {"ferplus", f.ferplus},         {"clean", f.clean},
                  {"max_classes", f.max_classes}, {"limit_train", f.limit_train}, {"limit_eval", f.limit_eval},
                  {"synthetic", f.synthetic}};
  nlohmann::json files = train::describe_source_files(f.data_root);
  if (!f.ferplus.empty()) files.push_back(train::describe_file(f.ferplus));
  rs.data_info["source_files"] = files;
  rs.data_info["label_space"] = f.label_space;  // the description says how: "test = the source's validation split"
  rs.data_info["test_is_validation"] = s.test_is_validation;
  rs.train.interrupted = [] { return g_stop != 0; };
  return rs;
}

// The run directory: --out, or --resume DIR (copied into --out first when another --out is given).
std::filesystem::path run_directory(const TrainFlags& f) {
  std::filesystem::path dir(f.resume.empty() ? f.out : f.resume);
  if (!f.resume.empty() && f.out != kDefaultOut && f.out != f.resume) {
    std::filesystem::create_directories(f.out);
    std::filesystem::copy(f.resume, f.out, std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
    dir = f.out;
  }
  return dir;
}

// Trains (or continues, or reports finished) the run and writes its subgroup reports; the exit status.
int train_run(TrainFlags& f, const data::Splits& s) {
  sweep::StudyData study{s.train, s.val, s.test, nullptr, s.description};
  if (!f.synthetic.empty()) study.synthetic = data::load_synthetic(f.synthetic, s.train->class_names(), !f.label_space.empty());
  FER_CHECK(f.real_ratio == 1.0 || study.synthetic, "--real_ratio below 1 needs --synthetic");
  sweep::RunSettings rs = run_settings(f, s);
  std::signal(SIGINT, request_stop_on_sigint);
  const std::filesystem::path dir = run_directory(f);
  if (f.clean) data::write_cleaning_csv(dir / "cleaning.csv", s.cleaning);
  sweep::RunSpec run{f.model, f.real_ratio, f.cfg.seed, 0};
  f.subset.seed = f.cfg.seed;
  study.real_train = data::apply_subset_options(study.real_train, f.subset, dir / "subset_manifest.csv");
  train::FitResult r = sweep::run_one(run, study, rs, dir, models::zoo_factory());
  if (r.already_finished) return 0;
  if (r.interrupted) {
    std::printf("interrupted: continue with --resume %s\n", dir.string().c_str());
    return 130;
  }
  if (!f.subset.attributes.empty() && std::filesystem::exists(dir / "predictions.csv"))
    metrics::write_subgroup_reports(dir, metrics::read_predictions_csv(dir / "predictions.csv"), f.subset.attributes,
                                    f.subgroups, f.boot);
  std::printf("outputs in %s (metrics.json, log.csv, tensorboard/, confusion_matrix.png, reliability.png, "
              "predictions.csv, checkpoints/)\n", dir.string().c_str());
  return 0;
}

}  // namespace

int program_main(int argc, char** argv) {
  // Progress lines must reach a log file as they happen, not when the run ends.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<CLI::App> app_owner = fer::cli::make_app("Train one FER model (fer)", /*show_defaults=*/true);
  CLI::App& app = *app_owner;
  TrainFlags flags;
  add_flags(app, flags);
  if (auto code = fer::cli::parse(app, argc, argv)) return *code;
  try {
    if (!flags.resume.empty()) take_flags_from_run(app, argc, argv, flags);
    check_settings(flags);
    data::Splits splits = load_data(flags);
    return flags.cfg.epochs == 0 ? evaluate_run(flags, splits) : train_run(flags, splits);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace train_program
