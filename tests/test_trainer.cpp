// The training loop on a small learnable problem: it learns, writes every run output, resumes to bit-identical
// weights, stops on a NaN loss keeping the last good checkpoint, and evaluates from a checkpoint (eval-only).
#include <doctest/doctest.h>

#include <fstream>

#include "fer/train/trainer.hpp"
#include "models/baselines.hpp"
#include "models/custom_cnn.hpp"
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
  cfg.epochs = 3, cfg.resume = out, cfg.lr = 1e30, cfg.optimizer = "sgd", cfg.momentum = 0;
  CHECK_THROWS_WITH_AS(train::fit(model, train, nullptr, nullptr, pp, pp, cfg), doctest::Contains("the loss became"), Error);
  CHECK(std::filesystem::last_write_time(out / "checkpoints/last/model.safetensors") == before);
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
  auto groups = train::trainer_detail::make_optimizer(model, cfg)->param_groups();
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
