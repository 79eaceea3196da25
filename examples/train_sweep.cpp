// train_sweep: the study in one command. Models x real-data ratios x seeds, each run trained on a real/synthetic
// mix and tested on real data, then one report (tables, plots, significance, index.html) in the sweep directory.
//
//   train_sweep                                       # demo on the embedded default data (a few minutes, 2 cores)
//   train_sweep --config sweep.yaml                   # a YAML file; flags override it
//   train_sweep --real fer2013.csv --synthetic generator:G.pkl --models resnet18,convnext_tiny --seeds 0,1,2
//   train_sweep --config sweep.yaml --shard 0/4 --out runs/shard0   # a deterministic quarter of the runs
//   train_sweep --config sweep.yaml --emit-slurm sweep.sbatch       # a Slurm job array of the shards
//   train_sweep --merge runs/shard0 runs/shard1 ... --out runs/all  # one report from several shards
//
// The sweep's state (sweep_state.json) is saved after every run: rerunning the same command continues where it
// stopped and never redoes a finished run; Ctrl-C stops cleanly at the next batch (a second Ctrl-C kills).
// sweep.json records the study (data, synthetic source, settings and their fingerprint, fer version); the report
// states it, --merge only combines directories with the same settings and no run twice, and the exit status is 1
// when any run failed (the report lists the failed runs). Unknown YAML keys are an error naming the nearest key.
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "fer/cli/program.hpp"
#include "fer/core/numpy_random.hpp"
#include "fer/data/sources.hpp"
#include "fer/data/sampling.hpp"
#include "fer/data/subsets.hpp"
#include "fer/metrics/subgroup_report.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/sweep/config_keys.hpp"
#include "fer/sweep/merge.hpp"
#include "fer/sweep/plan.hpp"
#include "fer/sweep/report.hpp"
#include "fer/sweep/runner.hpp"
#include "fer/sweep/state.hpp"
#include "fer/train/console.hpp"
#include "fer/train/run_description.hpp"
#include "fer/io/json_text.hpp"
#include "models/model_factory.hpp"
#include "models/stylegan2.hpp"

namespace train_sweep_program {

using namespace fer;

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void interrupt_sweep_on_sigint(int) {
  g_interrupted = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

struct SweepConfig {
  std::vector<std::string> models = {"resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_large",
                                     "shufflenet_v2_x1_0", "densenet121", "convnext_tiny"};
  std::vector<double> ratios = {0.0, 0.1, 0.3, 0.5, 1.0};
  std::vector<uint64_t> seeds = {0};
  int64_t epochs = 30, input_size = 64, batch_size = 64;
  std::string optimizer = "adam", schedule = "cosine";
  double lr = 1e-3, weight_decay = 1e-4, label_smoothing = 0.0;
  bool balanced_sampler = false, class_weights = false, augment = true;
  std::string auto_augment = "none";  // autoaugment, randaugment or trivialaugment (with flip + padded crop)
  int64_t patience = 0, warmup_epochs = 0;
  std::string real = "fashion-mnist", synthetic, ferplus;
  int64_t max_classes = 0, limit_train = 0, limit_eval = 0, synthetic_per_class = 0;
  double trunc = 0.7, val_fraction = 0.1;
  std::string mix_mode = "fixed_total";
  double synthetic_multiple = 1.0;
  std::string out = "runs/sweep", device = "cpu";
  std::string amp = "off";  // off, bf16 or fp16 (CUDA)
  std::string label_space;  // fer2013, affectnet, ferplus or custom:a,b,... (numbered class folders need it)
  bool clean = false;       // drop blank and duplicate images, within and across splits (cleaning.csv)
  bool demo = false;
  std::string attributes;                     // per-image attributes CSV (data/attributes.hpp)
  std::vector<std::string> subset_fractions;  // --subset_fraction specs: one more sweep axis (data/subsets.hpp)

  // Every setting that shapes the results (not where they go, nor the device), as the report states them.
  nlohmann::json settings() const {
    return {{"models", models}, {"ratios", ratios}, {"seeds", seeds}, {"epochs", epochs}, {"input_size", input_size},
            {"batch_size", batch_size}, {"optimizer", optimizer}, {"schedule", schedule}, {"lr", lr},
            {"weight_decay", weight_decay}, {"label_smoothing", label_smoothing}, {"balanced_sampler", balanced_sampler},
            {"class_weights", class_weights}, {"augment", augment}, {"auto_augment", auto_augment},
            {"patience", patience}, {"warmup_epochs", warmup_epochs},
            {"real", real}, {"synthetic", synthetic}, {"ferplus", ferplus}, {"max_classes", max_classes},
            {"limit_train", limit_train}, {"limit_eval", limit_eval}, {"synthetic_per_class", synthetic_per_class},
            {"trunc", trunc}, {"val_fraction", val_fraction}, {"mix_mode", mix_mode},
            {"synthetic_multiple", synthetic_multiple}, {"amp", amp}, {"label_space", label_space}, {"clean", clean},
            {"attributes", attributes}, {"subset_fractions", subset_fractions}};
  }
  // The settings without the plan's axes: sweeps that agree on it are the same study and may merge.
  std::string settings_fingerprint() const {
    nlohmann::json j = settings();
    j.erase("models"), j.erase("ratios"), j.erase("seeds");
    uint64_t h = 0xcbf29ce484222325ull;
    for (char ch : fer::io::dump_json(j)) h = (h ^ uint8_t(ch)) * 0x100000001b3ull;
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)h);
    return buf;
  }

  // Everything that changes results; a sweep directory only resumes with the same fingerprint.
  std::string fingerprint() const {
    std::ostringstream s;
    if (!attributes.empty() || !subset_fractions.empty()) {  // older sweeps keep their fingerprint
      s << "|" << attributes << "|";
      for (const auto& f : subset_fractions) s << f << "|";
    }
    for (const auto& m : models) s << m << ",";
    s << "|";
    for (double r : ratios) s << r << ",";
    s << "|";
    for (uint64_t x : seeds) s << x << ",";
    s << "|" << epochs << "|" << input_size << "|" << batch_size << "|" << optimizer << "|" << schedule << "|" << lr << "|"
      << weight_decay << "|" << label_smoothing << "|" << balanced_sampler << class_weights << augment << "|" << patience
      << "|" << warmup_epochs << "|" << real << "|" << synthetic << "|" << ferplus << "|" << max_classes << "|" << limit_train
      << "|" << limit_eval << "|" << synthetic_per_class << "|" << trunc << "|" << val_fraction << "|" << mix_mode << "|"
      << synthetic_multiple;
    if (auto_augment != "none") s << "|auto_augment:" << auto_augment;  // sweeps without one keep their fingerprint
    if (!label_space.empty()) s << "|label_space=" << label_space;  // appended only when set: older sweeps still resume
    if (clean) s << "|clean";
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : s.str()) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)h);
    return buf;
  }
};

// The embedded default: 7 Fashion-MNIST classes stand in for FER2013's 7 emotions, the 7-class StyleGAN2 fixture
// (random weights, NVIDIA format) for a trained face generator; small sizes so it ends in a few minutes.
void apply_demo(SweepConfig& c) {
  c.demo = true;
  c.models = {"custom_cnn", "mlp"};
  c.epochs = 2, c.input_size = 32, c.batch_size = 64;
  c.real = "fashion-mnist", c.max_classes = 7, c.limit_train = 1400, c.limit_eval = 700;
  c.synthetic = std::string("generator:") + FER_EXAMPLES_DATA + "/demo_generator.safetensors";
  c.schedule = "cosine", c.lr = 2e-3;
  c.out = "runs/demo_sweep";
}

template <class T>
void yaml_get(const YAML::Node& n, const char* key, T& v) {
  if (n[key]) v = n[key].as<T>();
}

// The keys of a YAML map (an error for anything else).
std::vector<std::string> yaml_keys(const YAML::Node& n, const std::string& where) {
  FER_CHECK(n.IsMap() || n.IsNull(), where, ": expected a map of settings (key: value)");
  std::vector<std::string> keys;
  if (n.IsMap())
    for (const auto& kv : n) keys.push_back(kv.first.as<std::string>());
  return keys;
}

void load_yaml(const std::string& path, SweepConfig& c) {
  YAML::Node y;
  try {
    y = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    fail(path, ": not a readable YAML file (", e.what(), ")");
  }
  try {
    sweep::check_keys(yaml_keys(y, path), {"models", "ratios", "seeds", "epochs", "input_size", "batch_size", "optimizer",
                                            "schedule", "lr", "weight_decay", "label_smoothing", "balanced_sampler",
                                            "class_weights", "augment", "auto_augment", "patience", "warmup_epochs", "out",
                                            "device", "amp", "mix_mode", "synthetic_multiple", "subset_fractions", "data"},
                      path);
    if (YAML::Node d = y["data"])
      sweep::check_keys(yaml_keys(d, path + ": data"), {"real", "synthetic", "ferplus", "max_classes", "limit_train",
                                                        "limit_eval", "synthetic_per_class", "trunc", "val_fraction",
                                                        "label_space", "clean", "attributes"},
                        path + ": data");
    yaml_get(y, "models", c.models), yaml_get(y, "ratios", c.ratios), yaml_get(y, "seeds", c.seeds);
    yaml_get(y, "epochs", c.epochs), yaml_get(y, "input_size", c.input_size), yaml_get(y, "batch_size", c.batch_size);
    yaml_get(y, "optimizer", c.optimizer), yaml_get(y, "schedule", c.schedule), yaml_get(y, "lr", c.lr);
    yaml_get(y, "weight_decay", c.weight_decay), yaml_get(y, "label_smoothing", c.label_smoothing);
    yaml_get(y, "balanced_sampler", c.balanced_sampler), yaml_get(y, "class_weights", c.class_weights);
    yaml_get(y, "auto_augment", c.auto_augment);
    yaml_get(y, "augment", c.augment), yaml_get(y, "patience", c.patience), yaml_get(y, "warmup_epochs", c.warmup_epochs);
    yaml_get(y, "out", c.out), yaml_get(y, "device", c.device), yaml_get(y, "amp", c.amp), yaml_get(y, "mix_mode", c.mix_mode);
    yaml_get(y, "synthetic_multiple", c.synthetic_multiple), yaml_get(y, "subset_fractions", c.subset_fractions);
    if (YAML::Node d = y["data"]) {
      yaml_get(d, "attributes", c.attributes);
      yaml_get(d, "real", c.real), yaml_get(d, "synthetic", c.synthetic), yaml_get(d, "ferplus", c.ferplus);
      yaml_get(d, "max_classes", c.max_classes), yaml_get(d, "limit_train", c.limit_train);
      yaml_get(d, "limit_eval", c.limit_eval), yaml_get(d, "synthetic_per_class", c.synthetic_per_class);
      yaml_get(d, "trunc", c.trunc), yaml_get(d, "val_fraction", c.val_fraction);
      yaml_get(d, "label_space", c.label_space), yaml_get(d, "clean", c.clean);
    }
  } catch (const YAML::Exception& e) {
    fail(path, ": ", e.what());
  }
}

template <class T>
std::vector<T> parse_list(const std::string& s, const char* what) {
  std::vector<T> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    std::stringstream conv(item);
    T v;
    conv >> v;
    FER_CHECK(!conv.fail() && conv.eof(), "--", what, ": '", item, "' is not valid");
    out.push_back(v);
  }
  FER_CHECK(!out.empty(), "--", what, " is empty");
  return out;
}

// Synthesizes `per_class` images per class with the generator into cache/<class index>/ on first use.
std::shared_ptr<data::ImageSet> synthesize(const std::string& generator_path, const std::filesystem::path& cache,
                                           const std::vector<std::string>& class_names, int64_t per_class, double psi,
                                           int64_t size) {
  auto marker = cache / ("complete_" + std::to_string(per_class) + "_" + std::to_string(size));
  if (!std::filesystem::exists(marker)) {
    auto G = models::Stylegan2Generator::load(generator_path);
    FER_CHECK(G.config().c_dim == int64_t(class_names.size()), generator_path, " has ", G.config().c_dim,
              " classes, the real data ", class_names.size());
    std::printf("synthesizing %lld images per class with %s (psi %.2f) into %s\n", (long long)per_class,
                generator_path.c_str(), psi, cache.string().c_str());
    for (int64_t cls = 0; cls < G.config().c_dim; ++cls) {
      auto dir = cache / std::to_string(cls);
      std::filesystem::create_directories(dir);
      for (int64_t start = 0; start < per_class; start += 16) {
        int64_t b = std::min<int64_t>(16, per_class - start);
        Tensor z = Tensor::empty({b, G.config().z_dim}), c = Tensor::zeros({b, G.config().c_dim});
        for (int64_t i = 0; i < b; ++i) {
          NumpyRandomState rs(uint32_t(cls * 1000003 + start + i));
          for (int64_t k = 0; k < G.config().z_dim; ++k) z.set_flat(i * G.config().z_dim + k, rs.randn());
          c.set_flat(i * G.config().c_dim + cls, 1.0);
        }
        Generator noise(uint64_t(cls * 7 + start));
        Tensor img = G.generate(z, c, psi, -1, models::NoiseMode::constant, noise);
        std::vector<uint8_t> px = models::Stylegan2Generator::to_pixels(img);
        Tensor u8 = Tensor::from_vector<uint8_t>(px, img.shape());
        Tensor resized = img.size(1) == size ? u8 : data::resize_bilinear(u8, size, size, true);
        for (int64_t i = 0; i < b; ++i) {
          io::Image im;
          im.height = im.width = size, im.channels = img.size(3);
          const uint8_t* src = resized.data<uint8_t>() + i * size * size * im.channels;
          im.pixels.assign(src, src + size * size * im.channels);
          char name[32];
          std::snprintf(name, sizeof(name), "seed%07lld.png", (long long)(start + i));
          io::write_png(dir / name, im);
        }
      }
    }
    io::write_file_atomically(marker, "done\n");
  }
  return data::load_synthetic(cache.string(), class_names, /*numbered_ok=*/true);  // fer's own numbered cache
}

std::string fer_version() { return train::build_info()["fer_version"].get<std::string>(); }  // git describe

void print_failed(const sweep::StudyInfo& info) {
  std::fprintf(stderr, "sweep: %zu runs FAILED (listed in the report):\n", info.failed.size());
  for (const auto& f : info.failed) std::fprintf(stderr, "  %s: %s\n", f.id.c_str(), f.error.c_str());
}

int merge(const std::vector<std::string>& dirs, const std::string& out) {
  std::vector<std::filesystem::path> paths(dirs.begin(), dirs.end());
  sweep::MergedSweeps m = sweep::merge_sweeps(paths);
  sweep::write_sweep_report(out, m.results, m.models, m.ratios, int(m.num_classes), m.info);
  std::printf("merged %zu runs from %zu directories into %s (summary.md, summary.json, index.html)\n", m.results.size(),
              dirs.size(), out.c_str());
  if (!m.info.failed.empty()) {
    print_failed(m.info);
    return 1;
  }
  return 0;
}

int emit_slurm(const SweepConfig& c, const std::string& config_path, int64_t shards, const std::string& script) {
  FER_CHECK(!config_path.empty(), "--emit-slurm needs --config (each array task reads the same YAML file)");
  std::string exe = std::filesystem::canonical("/proc/self/exe").string();
  std::string s = "#!/bin/bash\n# Slurm job array for the fer sweep " + config_path + ": one shard per task.\n"
                  "#SBATCH --job-name=fer-sweep\n#SBATCH --array=0-" + std::to_string(shards - 1) +
                  "\n#SBATCH --cpus-per-task=8\n#SBATCH --output=" + c.out + "/slurm-%A_%a.out\n"
                  "set -euo pipefail\n"
                  "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-8}\n" +
                  exe + " --config " + std::filesystem::absolute(config_path).string() + " --shard ${SLURM_ARRAY_TASK_ID}/" +
                  std::to_string(shards) + " --out " + c.out + "/shard_${SLURM_ARRAY_TASK_ID}\n"
                  "# After all tasks: " + exe + " --merge " + c.out + "/shard_* --out " + c.out + "/report\n";
  std::filesystem::create_directories(std::filesystem::path(script).parent_path().empty() ? "." : std::filesystem::path(script).parent_path());
  io::write_file_atomically(script, s);
  std::filesystem::permissions(script, std::filesystem::perms::owner_exec, std::filesystem::perm_options::add);
  std::printf("wrote %s: sbatch %s runs %lld shards\n", script.c_str(), script.c_str(), (long long)shards);
  return 0;
}

// The command line: sweep settings (overriding the YAML file's), and what to do with them.
struct SweepFlags {
  std::string config_path, models, ratios, seeds, shard, slurm_script, subset_fractions, kill_after;
  std::vector<std::string> merge_dirs;
  int64_t slurm_shards = 4, stop_after = 0;
  SweepConfig cli;
  CLI::Option *models_opt, *ratios_opt, *seeds_opt, *epochs, *input_size, *batch_size, *lr, *optimizer, *schedule, *real,
      *synthetic, *limit_train, *limit_eval, *max_classes, *attributes, *subset_fractions_opt, *out, *device, *amp,
      *auto_augment, *label_space, *clean;
};

void add_flags(CLI::App& app, SweepFlags& f) {
  SweepConfig& cli = f.cli;
  app.add_option("--config", f.config_path, "YAML sweep configuration");
  f.models_opt = app.add_option("--models", f.models, "comma-separated model names");
  f.ratios_opt = app.add_option("--ratios", f.ratios, "comma-separated real-data ratios in [0, 1]");
  f.seeds_opt = app.add_option("--seeds", f.seeds, "comma-separated seeds");
  f.epochs = app.add_option("--epochs", cli.epochs);
  f.input_size = app.add_option("--input_size", cli.input_size);
  f.batch_size = app.add_option("--batch_size", cli.batch_size);
  f.lr = app.add_option("--lr", cli.lr);
  f.optimizer = app.add_option("--optimizer", cli.optimizer, "sgd, adam, adamw");
  f.schedule = app.add_option("--schedule", cli.schedule, "none, step, cosine, onecycle");
  f.real = app.add_option("--real", cli.real, "fashion-mnist, a FER2013 CSV, or an image-folder root");
  f.synthetic = app.add_option("--synthetic", cli.synthetic, "an image folder, or generator:G.{pkl,safetensors}");
  f.limit_train = app.add_option("--limit_train", cli.limit_train, "keep this many real training images (stratified)");
  f.limit_eval = app.add_option("--limit_eval", cli.limit_eval, "keep this many validation and test images");
  f.max_classes = app.add_option("--max_classes", cli.max_classes, "keep classes 0..k-1");
  f.attributes = app.add_option("--attributes", cli.attributes, "per-image attributes CSV (file,<attr>,...): subgroup reports");
  f.subset_fractions_opt = app.add_option("--subset_fractions", f.subset_fractions,
                                          "'|'-separated --subset_fraction specs, a sweep axis (e.g. gender=female:1.0,male:0.75|"
                                          "gender=female:0.75,male:1.0)");
  f.out = app.add_option("--out", cli.out, "sweep directory");
  f.device = app.add_option("--device", cli.device, "cpu, cuda or cuda:N");
  f.amp = app.add_option("--amp", cli.amp, "mixed precision on CUDA: off, bf16 or fp16");
  f.auto_augment = app.add_option("--auto_augment", cli.auto_augment, "autoaugment, randaugment or trivialaugment (torchvision's policies)");
  f.label_space = app.add_option("--label_space", cli.label_space,
                                 "class order of numbered folders: fer2013, affectnet, ferplus or custom:a,b,...");
  f.clean = app.add_flag("--clean", cli.clean, "drop blank and duplicate images within and across splits (cleaning.csv)");
  app.add_option("--shard", f.shard, "run only shard i/n of the runs (round-robin)");
  app.add_option("--emit-slurm", f.slurm_script, "write a Slurm job-array script and exit");
  app.add_option("--slurm-shards", f.slurm_shards, "number of array tasks for --emit-slurm");
  app.add_option("--merge", f.merge_dirs, "sweep directories whose runs make one report in --out")->expected(1, -1);
  app.add_option("--stop-after", f.stop_after, "stop cleanly after this many runs (as a Ctrl-C would)")->group("");
  app.add_option("--kill-after", f.kill_after, "RUN:EPOCH: SIGKILL this process once that epoch of that run is checkpointed "
                 "(the resume test's kill at a known point)")->group("");
}

// The sweep's settings: the embedded demo when nothing is given, else the YAML file with the flags over it.
SweepConfig resolve_config(const SweepFlags& f) {
  SweepConfig c;
  const SweepConfig& cli = f.cli;
  bool any_setting = !f.config_path.empty();
  for (auto* o : {f.models_opt, f.ratios_opt, f.seeds_opt, f.epochs, f.input_size, f.batch_size, f.lr, f.optimizer,
                  f.schedule, f.real, f.synthetic, f.limit_train, f.limit_eval, f.max_classes, f.label_space, f.clean})
    any_setting = any_setting || o->count() > 0;
  any_setting = any_setting || f.attributes->count() || f.subset_fractions_opt->count();
  if (!any_setting) apply_demo(c);
  if (!f.config_path.empty()) load_yaml(f.config_path, c);
  if (f.models_opt->count()) c.models = parse_list<std::string>(f.models, "models");
  if (f.ratios_opt->count()) c.ratios = parse_list<double>(f.ratios, "ratios");
  if (f.seeds_opt->count()) c.seeds = parse_list<uint64_t>(f.seeds, "seeds");
  if (f.epochs->count()) c.epochs = cli.epochs;
  if (f.input_size->count()) c.input_size = cli.input_size;
  if (f.batch_size->count()) c.batch_size = cli.batch_size;
  if (f.lr->count()) c.lr = cli.lr;
  if (f.optimizer->count()) c.optimizer = cli.optimizer;
  if (f.schedule->count()) c.schedule = cli.schedule;
  if (f.real->count()) c.real = cli.real;
  if (f.synthetic->count()) c.synthetic = cli.synthetic;
  if (f.limit_train->count()) c.limit_train = cli.limit_train;
  if (f.limit_eval->count()) c.limit_eval = cli.limit_eval;
  if (f.max_classes->count()) c.max_classes = cli.max_classes;
  if (f.attributes->count()) c.attributes = cli.attributes;
  if (f.subset_fractions_opt->count()) {
    c.subset_fractions.clear();
    std::stringstream ss(f.subset_fractions);
    for (std::string s; std::getline(ss, s, '|');)
      if (!s.empty()) c.subset_fractions.push_back(s);
  }
  for (const auto& s : c.subset_fractions) (void)data::parse_subset_fractions(s);  // malformed specs fail now
  FER_CHECK(c.subset_fractions.empty() || !c.attributes.empty(), "--subset_fractions needs --attributes FILE.csv");
  if (f.out->count()) c.out = cli.out;
  if (f.device->count()) c.device = cli.device;
  if (f.amp->count()) c.amp = cli.amp;
  if (f.auto_augment->count()) c.auto_augment = cli.auto_augment;
  if (f.label_space->count()) c.label_space = cli.label_space;
  if (f.clean->count()) c.clean = cli.clean;
  try {
    parse_device(c.device);
  } catch (const std::invalid_argument& e) {
    fail("--device: ", e.what());
  }
  return c;
}

// The real splits and the synthetic images, once for every run, described on stdout and in OUT/sweep.json.
struct Study {
  data::DataOptions options;
  data::Splits splits;
  sweep::StudyData data;
  sweep::StudyInfo info;
};

Study load_study(const SweepConfig& c, const std::filesystem::path& out) {
  Study st;
  data::DataOptions& dopt = st.options;
  dopt.max_classes = c.max_classes, dopt.limit_train = c.limit_train, dopt.limit_eval = c.limit_eval;
  dopt.ferplus_csv = c.ferplus, dopt.val_fraction = c.val_fraction, dopt.label_space = c.label_space, dopt.clean = c.clean;
  data::Splits& splits = st.splits;
  splits = data::load_splits(c.real, dopt);
  std::printf("%s", data::notes_text(splits).c_str());
  if (c.clean) {
    data::write_cleaning_csv(out / "cleaning.csv", splits.cleaning);
    std::printf("--clean dropped %zu images (listed with reasons and duplicate partners in %s)\n", splits.cleaning.size(),
                (out / "cleaning.csv").string().c_str());
  }
  sweep::StudyData& study = st.data;
  study.real_train = splits.train, study.val = splits.val, study.test = splits.test;
  study.description = splits.description;
  bool needs_synthetic = std::any_of(c.ratios.begin(), c.ratios.end(), [](double r) { return r < 1.0; });
  if (needs_synthetic) {
    FER_CHECK(!c.synthetic.empty(), "ratios below 1.0 need synthetic data (--synthetic DIR or generator:G.pkl)");
    if (c.synthetic.rfind("generator:", 0) == 0) {
      auto counts = data::count_classes(splits.train->labels(), size_t(splits.train->num_classes()));
      int64_t per_class = c.synthetic_per_class ? c.synthetic_per_class : *std::max_element(counts.begin(), counts.end());
      study.synthetic = synthesize(c.synthetic.substr(10), out / "synthetic_cache", splits.train->class_names(),
                                   per_class, c.trunc, c.input_size);
    } else {
      size_t before = splits.notes.size();
      study.synthetic = data::load_synthetic(c.synthetic, splits.train->class_names(), !c.label_space.empty(), &splits.notes);
      for (size_t k = before; k < splits.notes.size(); ++k) std::printf("note: %s\n", splits.notes[k].c_str());
    }
    study.description += "; synthetic: " + c.synthetic;
  }
  std::printf("data: %s: %lld train, %lld val, %lld test images, %lld classes%s\n", splits.description.c_str(),
              (long long)splits.train->size(), (long long)splits.val->size(), (long long)splits.test->size(),
              (long long)splits.train->num_classes(),
              study.synthetic ? (", " + std::to_string(study.synthetic->size()) + " synthetic").c_str() : "");
  sweep::StudyInfo& info = st.info;
  info.data = splits.description + ": " + std::to_string(splits.train->size()) + " train, " +
              std::to_string(splits.val->size()) + " val, " + std::to_string(splits.test->size()) + " test images, " +
              std::to_string(splits.train->num_classes()) + " classes (" + data::describe_classes(splits.train->class_names()) + ")";
  info.synthetic = needs_synthetic ? c.synthetic : "";
  info.fer_version = fer_version();
  info.settings = c.settings();
  info.settings_fingerprint = c.settings_fingerprint();
  info.notes = splits.notes;
  sweep::write_study_file(out / "sweep.json", info);
  return st;
}

// What every run shares: training settings, augmentation, mixing, and config.json's record of the data.
sweep::RunSettings run_settings(const SweepConfig& c, const Study& st, const std::filesystem::path& out) {
  sweep::RunSettings settings;
  // What evaluate/analyze --run need to rebuild each run's data (config.json's data object).
  settings.data_info = {{"data_root", c.real},          {"ferplus", c.ferplus},         {"clean", c.clean},
                        {"max_classes", c.max_classes}, {"limit_train", c.limit_train}, {"limit_eval", c.limit_eval},
                        {"val_fraction", c.val_fraction}, {"split_seed", st.options.seed}, {"label_space", c.label_space},
                        {"synthetic", c.synthetic.rfind("generator:", 0) == 0 ? (out / "synthetic_cache").string() : c.synthetic},
                        {"test_is_validation", st.splits.test_is_validation}};
  settings.input_size = c.input_size;
  settings.augment = c.augment;
  settings.auto_augment = data::parse_auto_augment(c.auto_augment);
  settings.synthetic_multiple = c.synthetic_multiple;
  settings.mix_mode = c.mix_mode == "real_plus_synthetic" ? data::MixOptions::Mode::real_plus_synthetic
                                                          : data::MixOptions::Mode::fixed_total;
  train::TrainConfig& tc = settings.train;
  tc.epochs = c.epochs, tc.batch_size = c.batch_size, tc.optimizer = c.optimizer, tc.lr = c.lr;
  tc.weight_decay = c.weight_decay, tc.schedule = c.schedule, tc.warmup_epochs = c.warmup_epochs;
  tc.label_smoothing = c.label_smoothing, tc.balanced_sampler = c.balanced_sampler, tc.class_weights = c.class_weights;
  tc.patience = c.patience;
  tc.device = parse_device(c.device);
  tc.amp = c.amp;
  tc.interrupted = [] { return g_interrupted.load(); };
  return settings;
}

// --kill-after RUN:EPOCH: the checkpoint hook that kills this process at that point of that run (none otherwise).
std::function<void(int64_t)> kill_hook(const std::string& kill_after, const sweep::RunSpec& run) {
  if (kill_after.empty() || kill_after.rfind(run.id() + ":", 0) != 0) return nullptr;
  int64_t at = std::stoll(kill_after.substr(run.id().size() + 1));
  return [at](int64_t epochs_done) {
    if (epochs_done == at) std::raise(SIGKILL);
  };
}

// Trains the runs of this invocation not yet done, recording each in the sweep state (a failed run is recorded and
// the sweep goes on). Returns 130 when stopped (Ctrl-C, --stop-after), else 0.
int train_runs(const std::vector<sweep::RunSpec>& mine, const SweepConfig& c, const SweepFlags& f, const Study& st,
               sweep::RunSettings& settings, sweep::SweepState& state, const std::filesystem::path& out) {
  int64_t done_before = 0;
  for (const auto& r : mine) done_before += state.is_done(r.id());
  std::printf("sweep: %zu runs in this %s, %lld already done -> %s\n", mine.size(), f.shard.empty() ? "sweep" : "shard",
              (long long)done_before, out.string().c_str());
  double spent = 0;
  int64_t finished_now = 0, position = 0;
  for (const auto& run : mine) {
    ++position;
    if (state.is_done(run.id())) continue;
    if (g_interrupted || (f.stop_after > 0 && finished_now >= f.stop_after)) {
      std::printf("sweep: stopped; rerun the same command to continue (%s)\n", (out / "sweep_state.json").string().c_str());
      return 130;
    }
    int64_t left = int64_t(mine.size()) - done_before - finished_now;
    std::printf("\n=== run %lld/%zu: %s  (%lld left%s)\n", (long long)position, mine.size(), run.id().c_str(),
                (long long)left,
                finished_now ? (", ETA " + train::format_duration(spent / double(finished_now) * double(left))).c_str() : "");
    auto t0 = std::chrono::steady_clock::now();
    train::FitResult fr;
    settings.train.checkpointed = kill_hook(f.kill_after, run);
    const std::filesystem::path dir = out / "runs" / run.id();
    try {
      sweep::StudyData run_study = st.data;  // the run's --subset_fraction draw of the real training set
      run_study.real_train = data::apply_subset_options(st.data.real_train, {c.attributes, "", run.subset_fraction, run.seed},
                                                        dir / "subset_manifest.csv");
      fr = sweep::run_one(run, run_study, settings, dir, models::zoo_factory());
      if (!c.attributes.empty() && !fr.interrupted && std::filesystem::exists(dir / "predictions.csv"))
        metrics::write_subgroup_reports(dir, metrics::read_predictions_csv(dir / "predictions.csv"), c.attributes, "", {}, true);
    } catch (const std::exception& e) {
      state.mark(run.id(), {"failed", 0, 0, e.what()});
      std::fprintf(stderr, "sweep: run %s failed: %s\n", run.id().c_str(), e.what());
      continue;
    }
    if (fr.interrupted) {
      std::printf("sweep: interrupted during %s; its last finished epoch is checkpointed. Rerun the same command to "
                  "continue.\n", run.id().c_str());
      return 130;
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spent += wall;
    ++finished_now;
    state.mark(run.id(), {"done", wall, fr.images_per_second, ""});
  }
  return 0;
}

// The report over every finished run of the whole plan found in OUT (one per --subset_fraction when given), its
// first lines, and the failed runs; exit status 1 when any failed.
int write_reports(const std::vector<sweep::RunSpec>& runs, const SweepConfig& c, Study& st, const sweep::SweepState& state,
           const std::filesystem::path& out) {
  sweep::StudyInfo& info = st.info;
  const int num_classes = int(st.splits.train->num_classes());
  std::vector<sweep::RunResult> results;
  for (const auto& run : runs) {
    sweep::RunResult r;
    if (state.is_done(run.id()) && sweep::load_run_result(out / "runs" / run.id(), run, r)) results.push_back(r);
    auto rec = state.runs().find(run.id());
    if (rec != state.runs().end() && rec->second.status == "failed") info.failed.push_back({run.id(), rec->second.error});
  }
  for (const auto& f : c.subset_fractions) {  // one report per subset fraction, in subsets/<label>/
    std::vector<sweep::RunResult> of_f;
    for (const auto& r : results)
      if (r.spec.subset_fraction == f) of_f.push_back(r);
    if (of_f.empty()) continue;
    sweep::write_sweep_report(out / "subsets" / sweep::subset_fraction_label(f), of_f, c.models, c.ratios, num_classes, info);
    std::printf("report for --subset_fraction %s: %s\n", f.c_str(), (out / "subsets" / sweep::subset_fraction_label(f)).string().c_str());
  }
  if (!c.subset_fractions.empty()) results.clear();  // the per-subset reports replace the one over all runs

  if (!results.empty() || (!info.failed.empty() && c.subset_fractions.empty())) {
    sweep::write_sweep_report(out, results, c.models, c.ratios, num_classes, info);
    std::printf("\nreport: %s (summary.md, summary.json, summary.yaml, *_vs_realrate.png, index.html)\n", out.string().c_str());
    std::ifstream md(out / "summary.md");
    std::string line;
    for (int i = 0; i < 14 && std::getline(md, line); ++i) std::printf("%s\n", line.c_str());
  }
  if (!info.failed.empty()) {
    print_failed(info);
    return 1;
  }
  return 0;
}

void print_demo_note(const SweepConfig& c) {
  std::printf("demo: no configuration given, so this is the embedded demo sweep: %zu models x %zu ratios on %lld "
              "Fashion-MNIST images (7 classes standing in for FER2013's emotions) mixed with images from a small "
              "random-weight StyleGAN2 generator; see README.md for the real study.\n",
              c.models.size(), c.ratios.size(), (long long)c.limit_train);
}

}  // namespace

int program_main(int argc, char** argv) {
  // Progress lines must reach a log file as they happen, not when the run ends.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<CLI::App> app_owner = fer::cli::make_app("fer: the real/synthetic FER study (models x real-data ratios x seeds) with its report");
  CLI::App& app = *app_owner;
  SweepFlags flags;
  add_flags(app, flags);
  if (auto code = fer::cli::parse(app, argc, argv)) return *code;
  try {
    if (!flags.merge_dirs.empty()) return merge(flags.merge_dirs, flags.out->count() ? flags.cli.out : "runs/merged");
    SweepConfig c = resolve_config(flags);
    if (!flags.slurm_script.empty()) return emit_slurm(c, flags.config_path, flags.slurm_shards, flags.slurm_script);
    if (c.demo) print_demo_note(c);
    auto runs = sweep::plan_runs(c.models, c.ratios, c.seeds,
                                 c.subset_fractions.empty() ? std::vector<std::string>{""} : c.subset_fractions);
    for (const auto& m : c.models) (void)models::make_model(m, 2, c.input_size);  // unknown names fail now, not at run 17
    std::vector<sweep::RunSpec> mine = flags.shard.empty() ? runs : sweep::shard_runs(runs, sweep::parse_shard(flags.shard));
    std::filesystem::path out(c.out);
    std::filesystem::create_directories(out);
    sweep::SweepState state = sweep::SweepState::open(out / "sweep_state.json", c.fingerprint());
    Study study = load_study(c, out);
    sweep::RunSettings settings = run_settings(c, study, out);
    std::signal(SIGINT, interrupt_sweep_on_sigint);
    if (int stopped = train_runs(mine, c, flags, study, settings, state, out)) return stopped;
    return write_reports(runs, c, study, state, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_sweep: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace train_sweep_program
