#pragma once
// The model zoo as the library's model factory (train/model_factory.hpp): what programs hand to the sweep runner
// and to the rebuilding of a run's model.
#include "fer/train/model_factory.hpp"
#include "models/registry.hpp"

namespace fer::models {

inline train::ModelFactory zoo_factory() {
  return [](const train::ModelRequest& r, Generator& init) {
    return make_model(r.name, r.num_classes, r.input_size, init, r.hidden_head, r.head_dropout, r.drop_path);
  };
}

}  // namespace fer::models
