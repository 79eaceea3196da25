// Grad-CAM and Grad-CAM++ through fer's autograd equal PyTorch's, computed with forward and tensor hooks on torchvision
// models (and the custom CNN's PyTorch twin) with the same deterministic weights (tests/data/gradcam/maps.json, from
// tools/make_gradcam_fixtures.py, float64 there). Tolerance: rel-L2 <= 1e-4 on the raw maps, before and after ReLU.
#include <doctest/doctest.h>

#include "det_weights.hpp"
#include "fer/analysis/gradcam.hpp"
#include "fixture_json.hpp"
#include "models/cam_layers.hpp"
#include "models/registry.hpp"

using namespace fer;
using fer::testing::rel_l2;

namespace {

std::vector<double> relu_of(std::vector<double> v) {
  for (double& x : v) x = std::max(x, 0.0);
  return v;
}

}  // namespace

TEST_CASE("Grad-CAM and Grad-CAM++ equal PyTorch hooks on torchvision models") {
  auto fixtures = fer::testing::load_json_fixture("gradcam/maps.json");
  REQUIRE(fixtures.size() >= 7);  // resnet18, mobilenet_v3_small, custom_cnn, densenet121, efficientnet_b0, shufflenet, convnext
  for (const auto& [name, rec] : fixtures.items()) {
    CAPTURE(name);
    const int64_t size = rec["input_size"].get<int64_t>();
    const std::string layer = rec["layer"].get<std::string>();
    CHECK(models::default_cam_layer(name) == layer);  // the fixture explains each model's default layer
    auto model = models::make_model(name, 7, size);
    fer::testing::fill_det_weights(*model);
    model->eval();
    auto cam = analysis::class_activation_maps(*model, layer, fer::testing::det_input(size),
                                               rec["targets"].get<std::vector<int64_t>>());
    auto shape = rec["map_shape"].get<std::vector<int64_t>>();
    REQUIRE(cam.height == shape[1]);
    REQUIRE(cam.width == shape[2]);
    CHECK(rel_l2(cam.logits.to_vector(), rec["logits"].get<std::vector<double>>()) <= 1e-4);
    for (bool pp : {false, true}) {
      const std::string key = pp ? "gradcam_pp" : "gradcam";
      const auto& raw = pp ? cam.gradcam_pp : cam.gradcam;
      double e_raw = rel_l2(raw, rec[key].get<std::vector<double>>());
      double e_relu = rel_l2(relu_of(raw), rec[key + "_relu"].get<std::vector<double>>());
      MESSAGE(name, " ", key, " at ", layer, " ", shape[1], "x", shape[2], ": rel-L2 raw ", e_raw, ", post-ReLU ", e_relu);
      CHECK(e_raw <= 1e-4);
      CHECK(e_relu <= 1e-4);
    }
    // The hook is gone and the parameters require grad again.
    CHECK_FALSE(model->module_at(layer).has_forward_hook());
    for (const auto& p : model->parameters()) CHECK(p.requires_grad());
  }
}

TEST_CASE("Grad-CAM: the predicted class by default, and clear errors") {
  auto model = models::make_model("custom_cnn", 7, 48);
  fer::testing::fill_det_weights(*model);
  model->eval();
  Tensor x = fer::testing::det_input(48);
  auto by_default = analysis::class_activation_maps(*model, "features", x);
  REQUIRE(by_default.targets.size() == 2);
  for (int64_t n = 0; n < 2; ++n) {
    auto row = by_default.logits.to_vector();
    int64_t best = std::max_element(row.begin() + n * 7, row.begin() + (n + 1) * 7) - (row.begin() + n * 7);
    CHECK(by_default.targets[size_t(n)] == best);
  }
  auto explicit_targets = analysis::class_activation_maps(*model, "features", x, by_default.targets);
  CHECK(rel_l2(explicit_targets.gradcam, by_default.gradcam) == 0.0);
  CHECK_THROWS_WITH_AS(analysis::class_activation_maps(*model, "no_such_layer", x),
                       doctest::Contains("no module named \"no_such_layer\""), Error);
  CHECK_THROWS_WITH_AS(analysis::class_activation_maps(*model, "classifier", x), doctest::Contains("not a feature map"), Error);
  CHECK_THROWS_WITH_AS(analysis::class_activation_maps(*model, "features", x, {0, 7}), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(models::default_cam_layer("mlp"), doctest::Contains("no default Grad-CAM layer"), Error);
  model->train();
  CHECK_THROWS_WITH_AS(analysis::class_activation_maps(*model, "features", x), doctest::Contains("eval mode"), Error);
}

TEST_CASE("forward hooks: run through operator() and Sequential, see input and output, may replace the output") {
  nn::Sequential seq;
  auto& lin = seq.emplace<nn::Linear>(3, 2);
  seq.emplace<nn::ReLU>();
  Tensor x = Tensor::from_vector<float>({1, -2, 3}, {1, 3});
  Tensor plain = seq(x);
  Tensor seen_in, seen_out;
  seq.module_at("0").set_forward_hook([&](const Tensor& in, const Tensor& out) {
    seen_in = in, seen_out = out;
    return mul(out, Tensor::full({1}, -1.0));  // the next layer gets the replacement
  });
  CHECK(&seq.module_at("0") == static_cast<nn::Module*>(&lin));
  Tensor hooked = seq(x);
  CHECK(seen_in.to_vector() == x.to_vector());
  CHECK(seen_out.to_vector() == lin.forward(x).to_vector());  // (lin(x) would run the hook)
  for (int64_t k = 0; k < 2; ++k) CHECK(hooked.flat(k) == doctest::Approx(std::max(-seen_out.flat(k), 0.0)));
  seq.module_at("0").clear_forward_hook();
  CHECK(seq(x).to_vector() == plain.to_vector());
  CHECK(&seq.module_at("") == static_cast<nn::Module*>(&seq));
}
