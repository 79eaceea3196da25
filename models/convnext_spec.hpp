#pragma once
// ConvNeXt-Tiny as torchvision 0.14 defines it.
#include <array>

#include "models/param_count.hpp"

namespace fer::models {

struct ConvNeXtSpec {
  const char* name;
  std::array<int64_t, 4> dims;
  std::array<int64_t, 4> depths;
  double stochastic_depth_prob = 0.1;  // linearly increased over all blocks
  double layer_scale = 1e-6;
  double ln_eps = 1e-6;
  constexpr int64_t total_blocks() const { return depths[0] + depths[1] + depths[2] + depths[3]; }
};

inline constexpr ConvNeXtSpec convnext_tiny_spec{"convnext_tiny", {96, 192, 384, 768}, {3, 3, 9, 3}};

constexpr int64_t parameter_count(const ConvNeXtSpec& s, int64_t num_classes) {
  using namespace count;
  int64_t n = conv(3, s.dims[0], 4, 1, true) + norm(s.dims[0]);  // stem: 4x4/4 conv + LayerNorm2d
  for (int st = 0; st < 4; ++st) {
    int64_t d = s.dims[st];
    // CNBlock: depthwise 7x7 (bias) -> LayerNorm -> Linear d->4d -> GELU -> Linear 4d->d, layer scale [d].
    n += s.depths[st] * (conv(d, d, 7, d, true) + norm(d) + linear(d, 4 * d) + linear(4 * d, d) + d);
    if (st != 3) n += norm(d) + conv(d, s.dims[st + 1], 2, 1, true);  // downsample: LayerNorm2d + 2x2/2 conv
  }
  return n + norm(s.dims[3]) + linear(s.dims[3], num_classes);
}

static_assert(parameter_count(convnext_tiny_spec, 1000) == 28589128, "convnext_tiny differs from torchvision");
static_assert(parameter_count(convnext_tiny_spec, 7) == 27825511);

}  // namespace fer::models
