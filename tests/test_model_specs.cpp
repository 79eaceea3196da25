// The model zoo's compile-time specs: parameter counts equal torchvision 0.14's for 1000 and 7 classes (the
// static_asserts in each spec header fire at compile time; these cases repeat a few at run time and check the
// derived widths the builders use).
#include <doctest/doctest.h>

#include "models/convnext_spec.hpp"
#include "models/densenet_spec.hpp"
#include "models/efficientnet_spec.hpp"
#include "models/mobilenetv3_spec.hpp"
#include "models/resnet_spec.hpp"
#include "models/shufflenetv2_spec.hpp"

using namespace fer::models;

TEST_CASE("parameter counts match torchvision 0.14 (1000 and 7 classes)") {
  // Figures from: /usr/bin/python3 -c "import torchvision.models as m; print(sum(p.numel() for p in
  //   m.<name>(num_classes=K).parameters()))"
  CHECK(parameter_count(resnet18_spec, 1000) == 11689512);
  CHECK(parameter_count(resnet50_spec, 7) == 23522375);
  CHECK(parameter_count(efficientnet_b0_spec, 7) == 4016515);
  CHECK(parameter_count(mobilenet_v3_large_spec, 7) == 4210999);
  CHECK(parameter_count(mobilenet_v3_small_spec, 1000) == 2542856);
  CHECK(parameter_count(shufflenet_v2_x0_5_spec, 7) == 348967);
  CHECK(parameter_count(shufflenet_v2_x1_0_spec, 1000) == 2278604);
  CHECK(parameter_count(densenet121_spec, 7) == 6961031);
  CHECK(parameter_count(convnext_tiny_spec, 1000) == 28589128);
}

TEST_CASE("derived widths") {
  CHECK(resnet18_spec.feature_dim() == 512);
  CHECK(resnet50_spec.feature_dim() == 2048);
  CHECK(efficientnet_b0_spec.total_blocks() == 16);
  CHECK(mobilenet_v3_large_spec.last_conv() == 960);
  CHECK(mobilenet_v3_small_spec.last_conv() == 576);
  CHECK(se_squeeze_channels(72) == 24);   // _make_divisible(18, 8)
  CHECK(se_squeeze_channels(960) == 240);
  CHECK(count::make_divisible(18.0, 8) == 24);
  CHECK(count::make_divisible(10.0, 8) == 16);
  CHECK(densenet121_spec.feature_dim() == 1024);
  CHECK(convnext_tiny_spec.total_blocks() == 18);
}
