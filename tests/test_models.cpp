// Model zoo: parameter counts equal the compile-time specs (themselves equal to torchvision's), state_dict names
// are torchvision's, forward shapes at the study's input sizes, and the registry.
#include <doctest/doctest.h>

#include <fstream>

#include "models/convnext.hpp"
#include "models/densenet.hpp"
#include "models/efficientnet.hpp"
#include "models/mobilenetv3.hpp"
#include "models/registry.hpp"
#include "models/resnet.hpp"
#include "models/shufflenetv2.hpp"

using namespace fer;

TEST_CASE("ResNet-18/50 parameter counts and torchvision names") {
  models::ResNet r18(models::resnet18_spec, 1000);
  CHECK(r18.num_parameters() == models::parameter_count(models::resnet18_spec, 1000));  // 11,689,512
  models::ResNet r50(models::resnet50_spec, 7);
  CHECK(r50.num_parameters() == models::parameter_count(models::resnet50_spec, 7));     // 23,522,375
  auto sd = r18.state_dict();
  CHECK(sd[0].second.shape() == Shape{64, 3, 7, 7});  // exported as OIHW
}

TEST_CASE("every backbone has torchvision's state_dict keys, order and shapes, and its parameter count") {
  // Keys and shapes of torchvision.models.<name>(num_classes=7).state_dict() (tools/make_model_key_fixtures.py).
  const std::pair<const char*, int64_t> backbones[] = {
      {"resnet18", models::parameter_count(models::resnet18_spec, 7)},
      {"resnet50", models::parameter_count(models::resnet50_spec, 7)},
      {"efficientnet_b0", models::parameter_count(models::efficientnet_b0_spec, 7)},
      {"mobilenet_v3_large", models::parameter_count(models::mobilenet_v3_large_spec, 7)},
      {"mobilenet_v3_small", models::parameter_count(models::mobilenet_v3_small_spec, 7)},
      {"shufflenet_v2_x0_5", models::parameter_count(models::shufflenet_v2_x0_5_spec, 7)},
      {"shufflenet_v2_x1_0", models::parameter_count(models::shufflenet_v2_x1_0_spec, 7)},
      {"densenet121", models::parameter_count(models::densenet121_spec, 7)},
      {"convnext_tiny", models::parameter_count(models::convnext_tiny_spec, 7)},
      {"tf_efficientnet_b0_ns", models::parameter_count(models::efficientnet_b0_spec, 7)}};  // timm: same count
  for (const auto& [name, count] : backbones) {
    CAPTURE(std::string(name));
    auto m = models::make_model(name, 7, 64);
    CHECK(m->num_parameters() == count);
    std::ifstream in(std::string(FER_TEST_DATA) + "/models/" + name + "_keys.txt");
    REQUIRE(in.good());
    auto sd = m->state_dict();
    size_t i = 0;
    for (std::string line; std::getline(in, line); ++i) {
      REQUIRE(i < sd.size());
      std::string shape = "[";
      for (int d = 0; d < sd[i].second.dim(); ++d) shape += (d ? ", " : "") + std::to_string(sd[i].second.size(d));
      CHECK(line == sd[i].first + " " + shape + "]");
    }
    CHECK(i == sd.size());
  }
}

TEST_CASE("every registered model runs at 48 and 64 px") {
  for (const auto& name : models::model_names()) {
    if (name == "resnet50" || name == "densenet121" || name == "convnext_tiny") continue;  // slow; keys checked above
    for (int64_t size : {48, 64}) {
      CAPTURE(name);
      CAPTURE(size);
      auto m = models::make_model(name, 7, size);
      m->eval();
      InferenceGuard g;
      Tensor y = m->forward(Tensor::randn({2, size, size, 3}, DType::f32, default_generator()));
      CHECK(y.shape() == Shape{2, 7});
    }
  }
  CHECK_THROWS_WITH_AS(models::make_model("vgg", 7, 48), doctest::Contains("unknown model 'vgg'"), Error);
}

TEST_CASE("the reference's transfer head: classifier to 256, ReLU, Dropout, Linear; backbone names unchanged") {
  auto m = models::make_model("resnet18", 7, 64, default_generator(), 256);
  std::map<std::string, Shape> shapes;
  for (const auto& [n, t] : m->state_dict()) shapes[n] = t.shape();
  CHECK(shapes.at("conv1.weight") == Shape{64, 3, 7, 7});
  CHECK(shapes.at("fc.weight") == Shape{256, 512});
  CHECK(shapes.at("hidden_head.2.weight") == Shape{7, 256});
  CHECK(m->num_parameters() == models::parameter_count(models::resnet18_spec, 256) + 256 * 7 + 7);
  m->eval();
  InferenceGuard g;
  CHECK(m->forward(Tensor::randn({2, 64, 64, 3}, DType::f32, default_generator())).shape() == Shape{2, 7});
}
