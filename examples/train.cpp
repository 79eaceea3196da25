// train: one model on one data configuration, with the reference projects' flags.
//   train --data_root fer2013.csv --model resnet18 --input_size 64 --epochs 30 --batch_size 64 --lr 1e-3 \
//         --optimizer adamw --sampler balanced --class_weights --label_smoothing 0.1 --out runs/r18
//   train --data_root fashion-mnist --model resnet18 --input_size 32 --epochs 10 --out runs/fmnist_r18
//   train --resume runs/r18 --epochs 40            # continue (every other setting from runs/r18/config.json)
//   train --epochs 0 --resume runs/r18              # eval-only: into runs/r18/eval/<split>-<data fingerprint>/
// Optional real/synthetic mixing: --synthetic DIR --real_ratio 0.3 (training set only; val/test stay real).
// An existing --out is resumed only when its config.json has the same settings; --force-new starts afresh.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <string>

#include "fer/data/sources.hpp"
#include "fer/data/subsets.hpp"
#include "fer/metrics/subgroup_report.hpp"
#include "fer/sweep/runner.hpp"
#include "fer/train/run_eval.hpp"
#include "fer/train/run_flags.hpp"
#include "fer/train/validate_settings.hpp"

using namespace fer;

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_sigint(int) {
  g_stop = 1;
  std::signal(SIGINT, SIG_DFL);
}
}  // namespace

int main(int argc, char** argv) {
  // Progress lines must reach a log file as they happen, not when the run ends.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  CLI::App app{"Train one FER model (fer)"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  std::string data_root, model = "custom_cnn", sampler = "random", loss = "ce", synthetic, ferplus,
              augment = "standard";
  int64_t input_size = 48, max_classes = 0, limit_train = 0, limit_eval = 0;
  double real_ratio = 1.0;
  bool amp = false, clean = false, imagenet_norm = false;
  std::string amp_dtype = "bf16", device = "cpu", dopt_label_space;
  train::TrainConfig cfg;
  cfg.out = "runs/train";
  std::string out = cfg.out.string(), resume;
  app.add_option("--data_root", data_root, "fashion-mnist, a FER2013 CSV, or an image-folder root (required, except with --resume)");
  app.add_option("--ferplus", ferplus, "fer2013new.csv: FER+ majority-vote labels (8 classes)");
  app.add_option("--label_space", dopt_label_space, "class order of numbered folders: fer2013, affectnet, ferplus or custom:a,b,...");
  app.add_option("--model", model, "custom_cnn, scratch_cnn, mlp, resnet18, resnet50, ...");
  app.add_option("--input_size", input_size);
  app.add_option("--epochs", cfg.epochs, "0 with --resume: evaluate the checkpoint only");
  app.add_option("--batch_size", cfg.batch_size);
  app.add_option("--lr", cfg.lr);
  app.add_option("--weight_decay", cfg.weight_decay);
  app.add_option("--momentum", cfg.momentum);
  app.add_option("--optimizer", cfg.optimizer, "sgd, adam, adamw");
  app.add_option("--sam_rho", cfg.sam_rho, "> 0: sharpness-aware minimization (the reference's RobustOptimizer), e.g. 0.05");
  app.add_option("--schedule", cfg.schedule, "none, step, cosine, onecycle");
  app.add_option("--warmup_epochs", cfg.warmup_epochs);
  app.add_option("--sampler", sampler, "random or balanced");
  app.add_flag("--class_weights", cfg.class_weights, "inverse-frequency class weights in the loss");
  app.add_option("--loss", loss, "ce (cross-entropy)");
  app.add_option("--label_smoothing", cfg.label_smoothing);
  app.add_option("--grad_clip", cfg.grad_clip);
  app.add_option("--patience", cfg.patience, "early stopping on validation macro-F1 (epochs)");
  app.add_option("--augment", augment, "standard, light (flip + padded crop), autoaugment, randaugment, trivialaugment (torchvision's policies + light) or none");
  app.add_flag("--imagenet_norm", imagenet_norm, "normalize with ImageNet mean/std (pretrained weights)");
  app.add_flag("--amp", amp, "mixed precision on CUDA (autocast, f32 master weights)");
  app.add_option("--amp_dtype", amp_dtype, "bf16 or fp16 (fp16 adds dynamic loss scaling)");
  app.add_option("--device", device, "cpu, cuda or cuda:N");
  app.add_flag("--clean", clean, "drop blank and duplicate images (listed)");
  app.add_option("--synthetic", synthetic, "synthetic image folder to mix into the training set");
  app.add_option("--real_ratio", real_ratio, "real-data ratio of the training set when --synthetic is given");
  app.add_option("--max_classes", max_classes);
  app.add_option("--limit_train", limit_train);
  app.add_option("--limit_eval", limit_eval);
  app.add_option("--resume", resume, "a run directory to continue (or, with --epochs 0, to evaluate)");
  app.add_option("--seed", cfg.seed);
  std::string pretrained;
  std::vector<std::string> freeze;
  int64_t hidden_head = 0, num_classes = 0;
  double rs_drop_path = -1;
  app.add_option("--hidden_head", hidden_head, "> 0: classifier -> this many features -> ReLU -> Dropout -> Linear (the reference's transfer head, e.g. 256)");
  app.add_option("--pretrained", pretrained, "state dict to start from: safetensors or PyTorch .pt/.pth; only a head that is absent or of another size is re-initialized (reported)");
  app.add_option("--num_classes", num_classes, "a check: the data must have this many classes (e.g. 8 for FER+/AffectNet)");
  app.add_option("--drop_path", rs_drop_path, "stochastic depth rate (EfficientNets, ConvNeXt); default: the model's own (none for tf_efficientnet_b0_ns, as timm)");
  app.add_option("--freeze", freeze, "freeze parameters whose names start with these prefixes (e.g. conv1. layer1.)");
  data::SubsetOptions subset;  // issue 13: attribute subsets of the training set, test metrics per subgroup
  std::string subgroups;
  metrics::BootstrapOptions boot;
  app.add_option("--attributes", subset.attributes, "per-image attributes CSV (file,<attr>,...): test metrics per subgroup");
  app.add_option("--subset", subset.subset, "train on images with these attribute values, e.g. gender=female");
  app.add_option("--subset_fraction", subset.subset_fraction, "keep these fractions per value, e.g. gender=female:1.0,male:0.75");
  app.add_option("--subgroups", subgroups, "attributes to report per subgroup (comma-separated; default: all)");
  app.add_option("--bootstrap", boot.resamples, "bootstrap resamples of the subgroup confidence intervals");
  app.add_option("--backbone_lr_mult", cfg.backbone_lr_mult, "learning-rate factor for everything but the head (fc./classifier./head.)");
  app.add_option("--out", out);
  bool force_new = false;
  app.add_flag("--force-new", force_new, "start afresh in an --out that holds another run (which is kept, renamed to OUT.replaced-<time>)");
  CLI11_PARSE(app, argc, argv);
  try {
    // --resume DIR: every flag not given comes from DIR/config.json; one given with another value is an error.
    if (!resume.empty()) {
      const std::filesystem::path cfg_path = train::run_config_path(resume);
      FER_CHECK(std::filesystem::exists(cfg_path), "--resume ", resume, ": no config.json there (not a run directory "
                "written by this fer; train it anew with --out)");
      nlohmann::json rc = train::load_run_config(resume).to_json();
      FER_CHECK(app.count("--amp") == 0 || rc["train"].value("amp", std::string("off")) == amp_dtype, "--amp ",
                amp_dtype, " contradicts ", cfg_path.string(), ", where amp is ", rc["train"].value("amp", std::string("off")));
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
    // Settings that cost nothing to check, before any data is read.
    FER_CHECK(!data_root.empty(), "--data_root is required (fashion-mnist, a FER2013 CSV or an image-folder root)");
    train::check_model_name(model);
    train::check_input_size(model, input_size);
    train::check_learning_rate(cfg.lr);
    train::check_batch_size(cfg.batch_size);
    FER_CHECK(cfg.epochs >= 0, "--epochs must be >= 0, got ", cfg.epochs);
    FER_CHECK(cfg.epochs > 0 || !resume.empty(), "--epochs 0 evaluates a run and needs --resume DIR");
    train::check_fraction(real_ratio, "--real_ratio");
    train::check_fraction(cfg.label_smoothing, "--label_smoothing");
    for (auto [v, f] : {std::pair{cfg.weight_decay, "--weight_decay"}, {cfg.momentum, "--momentum"}, {cfg.sam_rho, "--sam_rho"},
                        {cfg.grad_clip, "--grad_clip"}, {cfg.backbone_lr_mult, "--backbone_lr_mult"}})
      train::check_non_negative(v, f);
    FER_CHECK(hidden_head >= 0, "--hidden_head must be >= 0, got ", hidden_head);
    FER_CHECK(pretrained.empty() || std::filesystem::is_regular_file(pretrained), "--pretrained ", pretrained, ": no such file");
    FER_CHECK(synthetic.empty() || std::filesystem::is_directory(synthetic), "--synthetic ", synthetic, ": no such directory");
    FER_CHECK(loss == "ce", "--loss ", loss, ": only ce (cross-entropy) is available");
    FER_CHECK(sampler == "random" || sampler == "balanced", "--sampler must be random or balanced");
    FER_CHECK(amp_dtype == "bf16" || amp_dtype == "fp16", "--amp_dtype must be bf16 or fp16");
    try {
      cfg.device = parse_device(device);
    } catch (const std::invalid_argument& e) {
      fail("--device: ", e.what());
    }
    cfg.amp = amp ? amp_dtype : "off";
    train::check_amp(amp, cfg.device);
    if (augment != "none") data::AugmentOptions::named(augment, input_size);  // refuses unknown names
    train::check_writable_dir(resume.empty() || out != cfg.out.string() ? out : resume, resume.empty() ? "--out" : "--resume");
    data::DataOptions dopt;
    dopt.ferplus_csv = ferplus, dopt.clean = clean, dopt.seed = cfg.seed, dopt.max_classes = max_classes;
    dopt.limit_train = limit_train, dopt.limit_eval = limit_eval, dopt.label_space = dopt_label_space;
    data::Splits s = data::load_splits(data_root, dopt);
    std::printf("data: %s: %lld train, %lld val, %lld test, %lld classes\n", s.description.c_str(), (long long)s.train->size(),
                (long long)s.val->size(), (long long)s.test->size(), (long long)s.train->num_classes());
    std::printf("%s", data::notes_text(s).c_str());
    if (!s.dropped.empty()) std::printf("--clean dropped %zu images (first: %s; all in cleaning.csv)\n", s.dropped.size(), s.dropped[0].c_str());
    FER_CHECK(num_classes == 0 || num_classes == s.train->num_classes(), "--num_classes ", num_classes, " but the data has ",
              s.train->num_classes(), " classes (see --max_classes, --ferplus)");
    size_t nc = size_t(s.train->num_classes());
    std::printf("%s", data::class_distribution_table(s.train->class_names(), {{"train", data::count_classes(s.train->labels(), nc)},
                                                                              {"val", data::count_classes(s.val->labels(), nc)},
                                                                              {"test", data::count_classes(s.test->labels(), nc)}})
                          .c_str());
    if (cfg.epochs == 0) {
      // Eval-only: the run's best weights on val and test, into DIR/eval/<split>-<fingerprint>/ (never metrics.json).
      train::RunConfig rc = train::load_run_config(resume);
      train::check_run_classes(rc, *s.test, resume);
      auto m = train::make_run_model(rc);
      std::filesystem::path weights = train::run_weights(resume);
      nn::load_safetensors(*m, weights.string());
      for (auto [name, set] : {std::pair{"val", s.val}, {"test", s.test}}) {
        if (set->size() == 0) continue;
        std::filesystem::path dir = train::run_eval_dir(resume, name, *set);
        nlohmann::json j = train::evaluate_into(*m, *set, rc.preprocess(), cfg.batch_size * 2, dir,
                                                {{"run", resume}, {"weights", weights.string()}, {"split", name},
                                                 {"data", s.description}});
        std::printf("%s (%lld images): %s -> %s\n", name, (long long)set->size(), train::metrics_line(j).c_str(),
                    dir.string().c_str());
      }
      return 0;
    }
    sweep::StudyData study{s.train, s.val, s.test, nullptr, s.description};
    if (!synthetic.empty()) study.synthetic = data::load_synthetic(synthetic, s.train->class_names(), !dopt_label_space.empty());
    FER_CHECK(real_ratio == 1.0 || study.synthetic, "--real_ratio below 1 needs --synthetic");
    sweep::RunSettings rs;
    rs.input_size = input_size;
    rs.augment = augment != "none";
    rs.light_augment = augment == "light";
    if (augment != "none" && augment != "standard" && augment != "light") rs.auto_augment = data::parse_auto_augment(augment);
    rs.imagenet_norm = imagenet_norm;
    rs.train = cfg;
    rs.train.freeze_prefixes = freeze;
    rs.pretrained = pretrained;
    rs.hidden_head = hidden_head;
    rs.drop_path = rs_drop_path;
    rs.train.balanced_sampler = sampler == "balanced";
    rs.force_new = force_new;
    rs.data_info = {{"data_root", data_root},     {"ferplus", ferplus},         {"clean", clean},
                    {"max_classes", max_classes}, {"limit_train", limit_train}, {"limit_eval", limit_eval},
                    {"synthetic", synthetic}};
    nlohmann::json files = train::describe_source_files(data_root);
    if (!ferplus.empty()) files.push_back(train::describe_file(ferplus));
    rs.data_info["source_files"] = files;
    rs.data_info["label_space"] = dopt_label_space;  // the description says how: "test = the source's validation split"
    rs.data_info["test_is_validation"] = s.test_is_validation;
    rs.train.interrupted = [] { return g_stop != 0; };
    std::signal(SIGINT, on_sigint);
    std::filesystem::path dir(resume.empty() ? out : resume);
    if (!resume.empty() && out != cfg.out.string() && out != resume) {
      std::filesystem::create_directories(out);
      std::filesystem::copy(resume, out, std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
      dir = out;
    }
    if (clean) data::write_cleaning_csv(dir / "cleaning.csv", s.cleaning);
    sweep::RunSpec run{model, real_ratio, cfg.seed, 0};
    subset.seed = cfg.seed;
    study.real_train = data::apply_subset_options(study.real_train, subset, dir / "subset_manifest.csv");
    train::FitResult r = sweep::run_one(run, study, rs, dir);
    if (r.already_finished) return 0;
    if (r.interrupted) {
      std::printf("interrupted: continue with --resume %s\n", dir.string().c_str());
      return 130;
    }
    if (!subset.attributes.empty() && std::filesystem::exists(dir / "predictions.csv"))
      metrics::write_subgroup_reports(dir, metrics::read_predictions_csv(dir / "predictions.csv"), subset.attributes, subgroups, boot);
    std::printf("outputs in %s (metrics.json, log.csv, tensorboard/, confusion_matrix.png, reliability.png, "
                "predictions.csv, checkpoints/)\n", dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train: error: %s\n", e.what());
    return 1;
  }
}
