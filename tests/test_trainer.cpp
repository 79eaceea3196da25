// The training loop on a small learnable problem: it learns, writes every run output, resumes to bit-identical
// weights, stops on a NaN loss keeping the last good checkpoint, and evaluates from a checkpoint (eval-only).
// Issue 15: checkpoints are verified at load, a run directory is resumed only with the same settings, a run killed
// after its last checkpoint is completed as trained, predictions keep full float precision.
#include <doctest/doctest.h>

#include <fstream>
#include <limits>

#include "fer/sweep/runner.hpp"
#include "fer/train/run_config.hpp"
#include "fer/train/trainer.hpp"
#include "models/baselines.hpp"
#include "models/custom_cnn.hpp"
#include "models/model_factory.hpp"
#include "models/resnet.hpp"

using namespace fer;

namespace {

// Three classes told apart by where a bright square sits (left, centre, right), with noise.
data::LabeledImages squares(int64_t n, uint64_t seed) {
  data::LabeledImages d;
  d.height = d.width = 16, d.channels = 1, d.class_names = {"left", "centre", "right"};
  Generator g(seed);
  std::vector<uint8_t> img(256);
  for (int64_t i = 0; i < n; ++i) {
    int32_t label = int32_t(i % 3);
    for (auto& p : img) p = uint8_t(g.below(60));
    int64_t x0 = 1 + label * 5, y0 = int64_t(g.below(10));
    for (int64_t y = y0; y < y0 + 5; ++y)
      for (int64_t x = x0; x < x0 + 5; ++x) img[size_t(y * 16 + x)] = uint8_t(200 + g.below(55));
    d.push_back(img.data(), label, "sq" + std::to_string(i));
  }
  return d;
}

train::TrainConfig small_config(const std::filesystem::path& out) {
  train::TrainConfig cfg;
  cfg.epochs = 3, cfg.batch_size = 16, cfg.lr = 3e-3, cfg.seed = 5, cfg.out = out, cfg.quiet = true;
  return cfg;
}

std::vector<double> weights_of(const nn::Module& m) {
  std::vector<double> v;
  for (const auto& [name, t] : m.state_dict())
    for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.flat(i));
  return v;
}

}  // namespace

TEST_CASE("trainer learns a small problem and writes every run output") {
  auto out = std::filesystem::temp_directory_path() / "fer_test_trainer_run";
  std::filesystem::remove_all(out);
  data::InMemoryImageSet train(squares(96, 1)), val(squares(30, 2)), test(squares(30, 3));
  data::Preprocess pp;
  pp.size = 16;
  manual_seed(11);
  models::CustomCnn model(3, 16);
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 6;
  train::FitResult r = train::fit(model, train, &val, &test, pp, pp, cfg, {{"model", "custom_cnn"}});
  CHECK(r.epochs_run == 6);
  CHECK(r.metrics["test"]["accuracy"].get<double>() > 0.8);
  CHECK(r.metrics["history"][5]["train_loss"].get<double>() < r.metrics["history"][0]["train_loss"].get<double>());
  for (const char* f : {"metrics.json", "log.csv", "predictions.csv", "confusion_matrix.png", "reliability.png",
                        "curves.png", "checkpoints/best/model.safetensors", "checkpoints/last/optimizer.safetensors",
                        "checkpoints/last/trainer.json"})
    CHECK_MESSAGE(std::filesystem::exists(out / f), f);
  int tb = 0;
  for (const auto& e : std::filesystem::directory_iterator(out / "tensorboard")) tb += e.path().filename().string().rfind("events.out.tfevents", 0) == 0;
  CHECK(tb == 1);
  std::ifstream log(out / "log.csv");
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  CHECK(lines == 7);
  nlohmann::json m = nlohmann::json::parse(std::ifstream(out / "metrics.json"));
  CHECK(m["model"] == "custom_cnn");
  CHECK(m["test"]["per_class"].size() == 3);
  CHECK(m["images_per_second"].get<double>() > 0);
}

// Trains straight through, and again "killed" after epoch 2 and resumed in a fresh model, as train_sweep does:
// models built from their own initialization generator (which dropout must not draw from), augmentation on.
template <class MakeModel>
void check_bit_identical_resume(const char* name, MakeModel make) {
  data::InMemoryImageSet train(squares(64, 1)), val(squares(15, 2));
  data::Preprocess pp;
  pp.size = 16;
  pp.augment = true;
  pp.aug = data::AugmentOptions::standard(16);
  auto straight_dir = std::filesystem::temp_directory_path() / (std::string("fer_test_trainer_straight_") + name);
  auto split_dir = std::filesystem::temp_directory_path() / (std::string("fer_test_trainer_split_") + name);
  std::filesystem::remove_all(straight_dir), std::filesystem::remove_all(split_dir);

  manual_seed(3);
  Generator init_a(17);
  auto a = make(init_a);
  train::fit(*a, train, &val, nullptr, pp, pp, small_config(straight_dir));

  manual_seed(3);
  Generator init_b(17);
  auto b = make(init_b);
  train::TrainConfig first = small_config(split_dir);
  first.epochs = 2;  // "killed" after epoch 2
  train::fit(*b, train, &val, nullptr, pp, pp, first);
  manual_seed(3);  // a restarted process seeds as the first did
  Generator init_c(17);
  auto c = make(init_c);
  train::TrainConfig rest = small_config(split_dir);
  rest.resume = split_dir;
  train::fit(*c, train, &val, nullptr, pp, pp, rest);
  // Compare the last checkpoints (fit reloads the best weights at the end).
  Generator unused(0);
  auto la = make(unused), lc = make(unused);
  nn::load_safetensors(*la, (straight_dir / "checkpoints/last/model.safetensors").string());
  nn::load_safetensors(*lc, (split_dir / "checkpoints/last/model.safetensors").string());
  std::vector<double> wa = weights_of(*la), wc = weights_of(*lc), w0 = weights_of(*make(unused));
  CHECK(wa == wc);
  CHECK(wa != w0);  // the comparison is of trained weights
}

TEST_CASE("a resumed run ends with bit-identical weights") {
  SUBCASE("custom CNN (batch norm, dropout 0.25)") {
    check_bit_identical_resume("custom_cnn", [](Generator& g) { return std::make_unique<models::CustomCnn>(3, 16, g); });
  }
  SUBCASE("MLP (two dropout 0.5 layers)") {
    check_bit_identical_resume("mlp", [](Generator& g) { return std::make_unique<models::Mlp>(3, 16, g); });
  }
}

TEST_CASE("a NaN loss stops training with a clear message and keeps the last good checkpoint") {
  auto out = std::filesystem::temp_directory_path() / "fer_test_trainer_nan";
  std::filesystem::remove_all(out);
  data::InMemoryImageSet train(squares(48, 1));
  data::Preprocess pp;
  pp.size = 16;
  models::CustomCnn model(3, 16);
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 1;
  train::fit(model, train, nullptr, nullptr, pp, pp, cfg);
  REQUIRE(std::filesystem::exists(out / "checkpoints/last/model.safetensors"));
  auto before = std::filesystem::last_write_time(out / "checkpoints/last/model.safetensors");
  // An infinite step makes the weights infinite or NaN (inf * 0) at the first update, so the next loss is NaN
  // whatever the model's kernels do with huge finite values.
  cfg.epochs = 3, cfg.resume = out, cfg.lr = std::numeric_limits<double>::infinity(), cfg.optimizer = "sgd";
  cfg.momentum = 0;
  CHECK_THROWS_WITH_AS(train::fit(model, train, nullptr, nullptr, pp, pp, cfg), doctest::Contains("the loss became"), Error);
  CHECK(std::filesystem::last_write_time(out / "checkpoints/last/model.safetensors") == before);
  const std::string good = "the last good checkpoint is in " + (out / "checkpoints/last").string();
  CHECK_THROWS_WITH_AS(train::fit(model, train, nullptr, nullptr, pp, pp, cfg), doctest::Contains(good.c_str()), Error);
}

TEST_CASE("eval-only from a checkpoint equals the trained model's test metrics") {
  auto out = std::filesystem::temp_directory_path() / "fer_test_trainer_eval";
  std::filesystem::remove_all(out);
  data::InMemoryImageSet train(squares(48, 1)), test(squares(30, 3));
  data::Preprocess pp;
  pp.size = 16;
  models::CustomCnn model(3, 16);
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 2;
  train::FitResult r = train::fit(model, train, nullptr, &test, pp, pp, cfg);
  models::CustomCnn fresh(3, 16);
  nn::load_safetensors(fresh, (out / "checkpoints/best/model.safetensors").string());
  train::EvalResult e = train::evaluate(fresh, test, pp, 32);
  CHECK(e.report.accuracy == r.metrics["test"]["accuracy"].get<double>());
  CHECK(e.report.macro_f1 == doctest::Approx(r.metrics["test"]["macro_f1"].get<double>()));
}

TEST_CASE("freezing, a lower backbone learning rate, and a 1000-class checkpoint loaded into a 7-class model") {
  auto out = std::filesystem::temp_directory_path() / "fer_test_trainer_freeze";
  std::filesystem::remove_all(out);
  data::InMemoryImageSet train(squares(48, 1));
  data::Preprocess pp;
  pp.size = 16;
  models::CustomCnn model(3, 16);
  std::vector<double> before;
  for (int64_t i = 0; i < model.features[0].state_dict()[0].second.numel(); ++i)
    before.push_back(model.features[0].state_dict()[0].second.flat(i));
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 1;
  cfg.freeze_prefixes = {"features.0."};
  cfg.backbone_lr_mult = 0.1;
  train::fit(model, train, nullptr, nullptr, pp, pp, cfg);
  std::vector<double> after;
  for (int64_t i = 0; i < model.features[0].state_dict()[0].second.numel(); ++i)
    after.push_back(model.features[0].state_dict()[0].second.flat(i));
  CHECK(before == after);  // frozen
  auto groups = train::make_optimizer(model, cfg)->param_groups();
  REQUIRE(groups.size() == 4);  // head/backbone x decay/no decay
  CHECK(*groups[0].lr == doctest::Approx(cfg.lr));
  CHECK(*groups[2].lr == doctest::Approx(cfg.lr * 0.1));

  // A 1000-class ResNet-18 state dict (as tools/export_torchvision.py writes it) into a 7-class model.
  models::ResNet big(models::resnet18_spec, 1000), small(models::resnet18_spec, 7);
  auto path = std::filesystem::temp_directory_path() / "fer_test_r18_1000.safetensors";
  nn::save_safetensors(big, path.string());
  nn::LoadOptions lo;
  lo.strict = false;
  nn::LoadReport rep = nn::load_safetensors(small, path.string(), lo);
  CHECK(rep.loaded.size() == 120);  // everything but fc.weight / fc.bias
  CHECK(rep.mismatched.size() == 2);
  CHECK(small.conv1->weight.to_vector() == big.conv1->weight.to_vector());
}

TEST_CASE("SAM (rho 0.05 around Adam) trains and leaves the weights at the base step, not at the climbed point") {
  auto out = std::filesystem::temp_directory_path() / "fer_test_trainer_sam";
  std::filesystem::remove_all(out);
  data::InMemoryImageSet train(squares(96, 1)), test(squares(30, 3));
  data::Preprocess pp;
  pp.size = 16;
  manual_seed(11);
  models::CustomCnn model(3, 16);
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 5, cfg.sam_rho = 0.05;
  train::FitResult r = train::fit(model, train, nullptr, &test, pp, pp, cfg);
  CHECK(r.metrics["history"][4]["train_loss"].get<double>() < r.metrics["history"][0]["train_loss"].get<double>());
  CHECK(r.metrics["test"]["accuracy"].get<double>() > 0.6);
}

// ---------------------------------------------------------------- issue 15

namespace {

std::filesystem::path fresh_dir(const char* name) {
  auto p = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(p);
  return p;
}

data::Preprocess pp16() {
  data::Preprocess pp;
  pp.size = 16;
  return pp;
}

// One epoch of a custom CNN on the squares into `out`.
void train_one_epoch(models::CustomCnn& model, const std::filesystem::path& out) {
  data::InMemoryImageSet train(squares(48, 1));
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 1;
  train::fit(model, train, nullptr, nullptr, pp16(), pp16(), cfg);
}

void flip_bit(const std::filesystem::path& p, size_t from_end) {
  std::string bytes;
  {
    std::ifstream in(p, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - from_end] ^= 0x10;
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a bit-flipped checkpoint file is refused, naming the file") {
  auto out = fresh_dir("fer_test_trainer_bitflip");
  models::CustomCnn model(3, 16);
  train_one_epoch(model, out);
  const auto last = out / "checkpoints" / "last";
  CHECK_NOTHROW(train::load_checkpoint(last, model, nullptr));
  for (const char* f : {"model.safetensors", "optimizer.safetensors", "trainer.json"}) {
    CAPTURE(f);
    std::filesystem::remove_all(out.string() + ".copy");
    std::filesystem::copy(out, out.string() + ".copy", std::filesystem::copy_options::recursive);
    const auto ck = std::filesystem::path(out.string() + ".copy") / "checkpoints" / "last";
    flip_bit(ck / f, 30);  // inside the last tensor's data (model, optimizer) or the history (trainer.json)
    std::string e = error_of([&] { train::load_checkpoint(ck, model, nullptr); });
    CHECK(e.find((ck / f).string()) != std::string::npos);
    CHECK(e.find("SHA-256") != std::string::npos);
  }
}

TEST_CASE("resuming needs the optimizer state; a checkpoint without one is an error") {
  auto out = fresh_dir("fer_test_trainer_noopt");
  data::InMemoryImageSet train(squares(48, 1)), val(squares(15, 2));
  const data::Preprocess pp = pp16();
  models::Mlp model(3, 16);
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 1;
  train::fit(model, train, &val, nullptr, pp, pp, cfg);
  // checkpoints/best holds weights only.
  REQUIRE(!std::filesystem::exists(out / "checkpoints/best/optimizer.safetensors"));
  auto opt = train::make_optimizer(model, cfg);
  CHECK_THROWS_WITH_AS(train::load_checkpoint(out / "checkpoints/best", model, opt.get()),
                       doctest::Contains("optimizer.safetensors: missing"), Error);
  cfg.epochs = 2, cfg.resume = out / "checkpoints" / "best";
  CHECK_THROWS_WITH_AS(train::fit(model, train, &val, nullptr, pp, pp, cfg), doctest::Contains("optimizer.safetensors"), Error);
}

TEST_CASE("a NaN stop never calls a corrupt checkpoint the last good one") {
  auto out = fresh_dir("fer_test_trainer_nan_corrupt");
  data::InMemoryImageSet train(squares(48, 1));
  const data::Preprocess pp = pp16();
  models::Mlp model(3, 16);
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 2;
  // After epoch 1 is checkpointed its weights file is damaged on disk and the model's weights become NaN.
  cfg.checkpointed = [&](int64_t) {
    flip_bit(out / "checkpoints" / "last" / "model.safetensors", 30);
    for (auto& [name, p] : model.named_parameters()) p.set_flat(0, NAN);
  };
  std::string e = error_of([&] { train::fit(model, train, nullptr, nullptr, pp, pp, cfg); });
  CHECK(e.find("the loss became") != std::string::npos);
  CHECK(e.find("last good") == std::string::npos);
  CHECK(e.find("NOT usable") != std::string::npos);
  CHECK(e.find("model.safetensors") != std::string::npos);
}

TEST_CASE("a run killed after its last checkpoint but before metrics.json is completed with its epochs and images/s") {
  auto out = fresh_dir("fer_test_trainer_kill_end");
  data::InMemoryImageSet train(squares(48, 1)), val(squares(15, 2)), test(squares(30, 3));
  const data::Preprocess pp = pp16();
  models::Mlp model(3, 16);
  train::TrainConfig cfg = small_config(out);
  cfg.epochs = 2;
  cfg.checkpointed = [](int64_t epochs) {
    if (epochs == 2) throw std::runtime_error("killed");
  };
  CHECK_THROWS(train::fit(model, train, &val, &test, pp, pp, cfg));
  REQUIRE(!std::filesystem::exists(out / "metrics.json"));
  nlohmann::json st = nlohmann::json::parse(std::ifstream(out / "checkpoints/last/trainer.json"));
  cfg.checkpointed = nullptr, cfg.resume = out;
  train::FitResult r = train::fit(model, train, &val, &test, pp, pp, cfg);
  nlohmann::json m = nlohmann::json::parse(std::ifstream(out / "metrics.json"));
  CHECK(m["epochs"] == 2);
  CHECK(r.epochs_run == 2);
  // 48 images in each of 2 epochs over the seconds those epochs took.
  CHECK(m["images_per_second"].get<double>() == doctest::Approx(96.0 / st["train_seconds"].get<double>()));
  CHECK(m["test"]["accuracy"].is_number());
}

TEST_CASE("predictions.csv keeps probabilities at full float precision (%.9g)") {
  auto out = fresh_dir("fer_test_trainer_predictions");
  std::filesystem::create_directories(out);
  data::InMemoryImageSet set(squares(2, 1));
  train::EvalResult r;
  const float a = 0.123456791f, b = 1.0f - a;  // floats the model could give
  r.probs = {a, b / 2, b / 2, 1e-7, 0.5, 0.5 - 1e-7};
  r.labels = {0, 1};
  r.report = metrics::classification_report(r.probs, r.labels, 3);
  train::write_eval_outputs(out, set, r);
  std::ifstream in(out / "predictions.csv");
  std::string header, row0, row1;
  std::getline(in, header), std::getline(in, row0), std::getline(in, row1);
  char want[32];
  std::snprintf(want, sizeof(want), ",%.9g,", double(a));
  CHECK(row0.find(want) != std::string::npos);
  CHECK(std::stof(row0.substr(row0.find(want) + 1)) == a);  // reads back to the same float
  CHECK(row1.find(",1e-07,") != std::string::npos);
}

namespace {

struct SquaresStudy {
  sweep::StudyData data;
  SquaresStudy() {
    data.real_train = std::make_shared<data::InMemoryImageSet>(squares(48, 1));
    data.val = std::make_shared<data::InMemoryImageSet>(squares(15, 2));
    data.test = std::make_shared<data::InMemoryImageSet>(squares(15, 3));
    data.description = "squares";
  }
};

sweep::RunSettings small_settings() {
  sweep::RunSettings s;
  s.train = small_config("unused");
  s.train.epochs = 1;
  s.input_size = 16;
  s.augment = false;
  return s;
}

std::map<std::string, std::filesystem::file_time_type> times_of(const std::filesystem::path& dir) {
  std::map<std::string, std::filesystem::file_time_type> t;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) t[e.path().string()] = e.last_write_time();
  return t;
}

}  // namespace

TEST_CASE("run_one writes config.json and resumes a directory only with the same settings") {
  auto dir = std::filesystem::temp_directory_path() / "fer_test_trainer_run_dir";
  std::filesystem::remove_all(dir);
  for (const auto& e : std::filesystem::directory_iterator(dir.parent_path()))
    if (e.path().filename().string().rfind("fer_test_trainer_run_dir.replaced-", 0) == 0) std::filesystem::remove_all(e.path());
  SquaresStudy st;
  sweep::RunSpec run{"mlp", 1.0, 5, 0};
  sweep::RunSettings s = small_settings();
  train::FitResult first = sweep::run_one(run, st.data, s, dir, models::zoo_factory());
  CHECK_FALSE(first.already_finished);

  // config.json: what rebuilds the model, and how it was trained.
  train::RunConfig c = train::load_run_config(dir);
  CHECK(c.model == "mlp");
  CHECK(c.class_names == std::vector<std::string>{"left", "centre", "right"});
  CHECK(c.input_size == 16);
  CHECK(c.train["lr"] == 3e-3);
  CHECK(c.train["seed"] == 5);
  CHECK(c.data["splits"]["train"]["per_class"] == std::vector<int64_t>{16, 16, 16});
  CHECK(c.build["fer_version"].get<std::string>().size() > 0);
  CHECK(std::filesystem::exists(dir / "config.yaml"));
  CHECK(std::filesystem::exists(dir / "checkpoints/last/manifest.json"));

  // The same settings: finished, nothing touched.
  auto before = times_of(dir);
  train::FitResult again = sweep::run_one(run, st.data, s, dir, models::zoo_factory());
  CHECK(again.already_finished);
  CHECK(again.metrics["test"]["accuracy"] == first.metrics["test"]["accuracy"]);
  CHECK(times_of(dir) == before);

  // Other settings: refused, naming what differs with both values; nothing touched.
  sweep::RunSettings other = small_settings();
  other.train.lr = 0.01;
  other.hidden_head = 8;
  std::string e = error_of([&] { sweep::run_one(run, st.data, other, dir, models::zoo_factory()); });
  CHECK(e.find("train/lr: 0.01 (now) vs 0.003") != std::string::npos);
  CHECK(e.find("hidden_head: 8 (now) vs 0") != std::string::npos);
  CHECK(e.find("--force-new") != std::string::npos);
  CHECK(times_of(dir) == before);
  // Other data (another selection of images) is another run too.
  SquaresStudy more;
  more.data.test = std::make_shared<data::InMemoryImageSet>(squares(18, 3));
  CHECK(error_of([&] { sweep::run_one(run, more.data, s, dir, models::zoo_factory()); }).find("data/splits/test") != std::string::npos);

  // More epochs with the same settings continue the run.
  sweep::RunSettings longer = small_settings();
  longer.train.epochs = 2;
  train::FitResult cont = sweep::run_one(run, st.data, longer, dir, models::zoo_factory());
  CHECK_FALSE(cont.already_finished);
  CHECK(cont.epochs_run == 2);
  CHECK(train::load_run_config(dir).train["epochs"] == 2);

  // --force-new: the old directory is kept aside, the new run starts from nothing.
  other.force_new = true;
  train::FitResult fresh = sweep::run_one(run, st.data, other, dir, models::zoo_factory());
  CHECK(fresh.epochs_run == 1);
  CHECK(train::load_run_config(dir).hidden_head == 8);
  int aside = 0;
  for (const auto& x : std::filesystem::directory_iterator(dir.parent_path()))
    if (x.path().filename().string().rfind("fer_test_trainer_run_dir.replaced-", 0) == 0) {
      ++aside;
      CHECK(nlohmann::json::parse(std::ifstream(x.path() / "metrics.json"))["epochs"] == 2);
    }
  CHECK(aside == 1);
}

TEST_CASE("the settings fingerprint ignores epochs and paths, except epochs under a schedule tied to them") {
  train::RunConfig a;
  a.model = "mlp", a.num_classes = 2, a.class_names = {"a", "b"};
  a.train = {{"epochs", 5}, {"lr", 0.1}, {"schedule", "none"}, {"pretrained", "/x/w.safetensors"}};
  a.data = {{"data_root", "/data/fer2013.csv"}, {"source_files", {{{"path", "/data/fer2013.csv"}, {"sha256", "ab"}}}}};
  train::RunConfig b = a;
  b.train["epochs"] = 9;
  b.train["pretrained"] = "/y/w.safetensors";
  b.data["data_root"] = "/moved/fer2013.csv";
  b.data["source_files"][0]["path"] = "/moved/fer2013.csv";
  b.build = {{"fer_version", "other"}};
  CHECK(a.settings_fingerprint() == b.settings_fingerprint());
  CHECK(a.differences(b).empty());
  b.data["source_files"][0]["sha256"] = "cd";
  CHECK(a.differences(b) == std::vector<std::string>{"data/source_files/0/sha256: \"ab\" (this run) vs \"cd\" (the directory's)"});
  a.train["schedule"] = "cosine";
  b = a;
  b.train["epochs"] = 9;
  CHECK(a.settings_fingerprint() != b.settings_fingerprint());
}
