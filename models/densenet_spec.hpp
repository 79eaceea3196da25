#pragma once
// DenseNet-121 as torchvision 0.14 defines it.
#include <array>

#include "models/param_count.hpp"

namespace fer::models {

struct DenseNetSpec {
  const char* name;
  int64_t growth_rate;
  std::array<int64_t, 4> block_layers;
  int64_t init_features;
  int64_t bn_size;  // bottleneck width = bn_size * growth_rate

  constexpr int64_t feature_dim() const {
    int64_t c = init_features;
    for (int b = 0; b < 4; ++b) {
      c += block_layers[b] * growth_rate;
      if (b != 3) c /= 2;
    }
    return c;
  }
};

inline constexpr DenseNetSpec densenet121_spec{"densenet121", 32, {6, 12, 24, 16}, 64, 4};

constexpr int64_t parameter_count(const DenseNetSpec& s, int64_t num_classes) {
  using namespace count;
  int64_t c = s.init_features, width = s.bn_size * s.growth_rate;
  int64_t n = conv(3, c, 7) + norm(c);
  for (int b = 0; b < 4; ++b) {
    for (int64_t l = 0; l < s.block_layers[b]; ++l) {
      n += norm(c) + conv(c, width, 1) + norm(width) + conv(width, s.growth_rate, 3);
      c += s.growth_rate;
    }
    if (b != 3) {
      n += norm(c) + conv(c, c / 2, 1);  // transition
      c /= 2;
    }
  }
  return n + norm(c) + linear(c, num_classes);
}

static_assert(densenet121_spec.feature_dim() == 1024);
static_assert(parameter_count(densenet121_spec, 1000) == 7978856, "densenet121 differs from torchvision");
static_assert(parameter_count(densenet121_spec, 7) == 6961031);

}  // namespace fer::models
