#pragma once
// Model names for the command line -> constructors. Every model takes NHWC images [N, S, S, 3] and gives logits.
// Defined in models/registry.cpp (library fer_models), so that a program building models by name does not compile
// every backbone again; include a model's own header to use its class directly.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fer/core/rng.hpp"
#include "fer/nn/layers.hpp"

namespace fer::models {

struct ModelInfo {
  std::string name;
  std::string description;
  std::function<std::shared_ptr<nn::Layer>(int64_t num_classes, int64_t image_size, Generator& gen)> make;
};

const std::vector<ModelInfo>& model_registry();
std::vector<std::string> model_names();

// Sets the stochastic depth of a model's blocks to `rate` times the block's position: i / n over its n blocks
// (timm's and torchvision's EfficientNet rule), i / (n - 1) for ConvNeXt (torchvision's). Refused for models without
// stochastic depth, so that --drop_path never does nothing silently.
void set_drop_path(nn::Module& model, const std::string& name, double rate);

// A model of the registry by name, with fresh weights from `gen`. hidden_head > 0 puts the transfer head
// (HiddenHeadModel) on the backbone; drop_path < 0 keeps the model's default stochastic depth (none for
// tf_efficientnet_b0_ns, as timm).
std::shared_ptr<nn::Layer> make_model(const std::string& name, int64_t num_classes, int64_t image_size,
                                      Generator& gen = default_generator(), int64_t hidden_head = 0,
                                      double head_dropout = 0.5, double drop_path = -1);

}  // namespace fer::models
