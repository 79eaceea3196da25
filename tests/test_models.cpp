// Model zoo: parameter counts equal the compile-time specs (themselves equal to torchvision's), state_dict names
// are torchvision's, forward shapes at the study's input sizes, and the registry.
#include <doctest/doctest.h>

#include <fstream>

#include "models/registry.hpp"

using namespace fer;

TEST_CASE("ResNet-18/50 parameter counts and torchvision names") {
  models::ResNet r18(models::resnet18_spec, 1000);
  CHECK(r18.num_parameters() == models::parameter_count(models::resnet18_spec, 1000));  // 11,689,512
  models::ResNet r50(models::resnet50_spec, 7);
  CHECK(r50.num_parameters() == models::parameter_count(models::resnet50_spec, 7));     // 23,522,375
  // Every key and shape of torchvision's resnet18(num_classes=7) / resnet50 (tools/make_model_key_fixtures.py).
  for (const char* name : {"resnet18", "resnet50"}) {
    CAPTURE(name);
    models::ResNet m(std::string(name) == "resnet18" ? models::resnet18_spec : models::resnet50_spec, 7);
    std::ifstream in(std::string(FER_TEST_DATA) + "/models/" + name + "_keys.txt");
    REQUIRE(in.good());
    auto sd = m.state_dict();
    size_t i = 0;
    for (std::string line; std::getline(in, line); ++i) {
      REQUIRE(i < sd.size());
      std::string shape = "[";
      for (int d = 0; d < sd[i].second.dim(); ++d) shape += (d ? ", " : "") + std::to_string(sd[i].second.size(d));
      CHECK(line == sd[i].first + " " + shape + "]");
    }
    CHECK(i == sd.size());
  }
  auto sd = r18.state_dict();
  CHECK(sd[0].second.shape() == Shape{64, 3, 7, 7});  // exported as OIHW
}

TEST_CASE("every registered model runs at 48 and 64 px") {
  for (const auto& name : models::model_names()) {
    if (name == "resnet50") continue;  // covered by the count above; slow on 2 cores in a debug build
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
