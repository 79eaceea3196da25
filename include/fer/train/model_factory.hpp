#pragma once
// How the library asks for a model without knowing the model zoo: a ModelFactory builds one from its name and
// shape. Programs pass the zoo's (models/model_factory.hpp); tests may pass their own.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "fer/core/rng.hpp"
namespace fer::nn {
class Layer;  // nn/layers.hpp
}  // namespace fer::nn

namespace fer::train {

struct ModelRequest {
  std::string name;  // an architecture the factory knows (e.g. "resnet18")
  int64_t num_classes = 0, input_size = 0;
  int64_t hidden_head = 0;    // > 0: classifier -> hidden -> ReLU -> Dropout -> Linear (the transfer head)
  double head_dropout = 0.5;  // the hidden head's dropout
  double drop_path = -1;      // >= 0: the stochastic depth rate; < 0: the model's default
};

// Builds the requested model with fresh weights drawn from `init`.
using ModelFactory = std::function<std::shared_ptr<nn::Layer>(const ModelRequest&, Generator& init)>;

}  // namespace fer::train
