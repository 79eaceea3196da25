// The model zoo, compiled once: every backbone's constructor and forward are instantiated here rather than in each
// program that builds models by name.
#include "models/registry.hpp"

#include "models/baselines.hpp"
#include "models/convnext.hpp"
#include "models/custom_cnn.hpp"
#include "models/densenet.hpp"
#include "models/efficientnet.hpp"
#include "models/hidden_head.hpp"
#include "models/mobilenetv3.hpp"
#include "models/resnet.hpp"
#include "models/shufflenetv2.hpp"
#include "models/tf_efficientnet.hpp"

namespace fer::models {

const std::vector<ModelInfo>& model_registry() {
  static const std::vector<ModelInfo> r = {
      {"custom_cnn", "the reference study's custom CNN (3 conv blocks, 48x48 input; any multiple of 8)",
       [](int64_t c, int64_t s, Generator& g) { return std::make_shared<CustomCnn>(c, s, g); }},
      {"scratch_cnn", "4-block plain CNN baseline with global average pooling",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<ScratchCnn>(c, g); }},
      {"mlp", "MLP baseline on the flattened image",
       [](int64_t c, int64_t s, Generator& g) { return std::make_shared<Mlp>(c, s, g); }},
      {"resnet18", "torchvision ResNet-18",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<ResNet>(resnet18_spec, c, g); }},
      {"resnet50", "torchvision ResNet-50",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<ResNet>(resnet50_spec, c, g); }},
      {"efficientnet_b0", "torchvision EfficientNet-B0",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<EfficientNet>(efficientnet_b0_spec, c, g); }},
      {"mobilenet_v3_large", "torchvision MobileNetV3-Large",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<MobileNetV3>(mobilenet_v3_large_spec, c, g); }},
      {"mobilenet_v3_small", "torchvision MobileNetV3-Small",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<MobileNetV3>(mobilenet_v3_small_spec, c, g); }},
      {"shufflenet_v2_x0_5", "torchvision ShuffleNetV2 x0.5",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<ShuffleNetV2>(shufflenet_v2_x0_5_spec, c, g); }},
      {"shufflenet_v2_x1_0", "torchvision ShuffleNetV2 x1.0",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<ShuffleNetV2>(shufflenet_v2_x1_0_spec, c, g); }},
      {"densenet121", "torchvision DenseNet-121",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<DenseNet>(densenet121_spec, c, g); }},
      {"tf_efficientnet_b0_ns", "timm tf_efficientnet_b0(_ns): TensorFlow 'same' padding, BN eps 1e-3, timm names",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<TfEfficientNet>(efficientnet_b0_spec, c, g); }},
      {"convnext_tiny", "torchvision ConvNeXt-Tiny",
       [](int64_t c, int64_t, Generator& g) { return std::make_shared<ConvNeXt>(convnext_tiny_spec, c, g); }},
  };
  return r;
}

std::vector<std::string> model_names() {
  std::vector<std::string> v;
  for (const auto& m : model_registry()) v.push_back(m.name);
  return v;
}

void set_drop_path(nn::Module& model, const std::string& name, double rate) {
  FER_CHECK(rate >= 0 && rate < 1, "--drop_path must be in [0, 1), not ", rate);
  std::vector<StochasticDepth*> blocks;
  for (auto& [n, m] : model.named_modules())
    if (auto* sd = dynamic_cast<StochasticDepth*>(m)) blocks.push_back(sd);
  FER_CHECK(!blocks.empty() || rate == 0, "--drop_path: model '", name, "' has no stochastic depth");
  const bool convnext = name.rfind("convnext", 0) == 0;
  const double n = double(blocks.size()) - (convnext ? 1.0 : 0.0);
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i]->set_p(n > 0 ? rate * double(i) / n : 0.0);
}

std::shared_ptr<nn::Layer> make_model(const std::string& name, int64_t num_classes, int64_t image_size, Generator& gen,
                                      int64_t hidden_head, double head_dropout, double drop_path) {
  for (const auto& m : model_registry())
    if (m.name == name) {
      std::shared_ptr<nn::Layer> model =
          hidden_head <= 0 ? m.make(num_classes, image_size, gen)
                           : std::make_shared<HiddenHeadModel>(m.make(hidden_head, image_size, gen), hidden_head, num_classes,
                                                               head_dropout, gen);
      if (drop_path >= 0) set_drop_path(*model, name, drop_path);
      return model;
    }
  std::string known;
  for (const auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  fail("unknown model '", name, "' (known: ", known, ")");
}

}  // namespace fer::models
