#pragma once
// ResNet-18/-50 as torchvision 0.14 defines them: the data of the architecture and its parameter count.
#include <array>

#include "models/param_count.hpp"

namespace fer::models {

struct ResNetSpec {
  const char* name;
  bool bottleneck;                 // Bottleneck (1x1-3x3-1x1, expansion 4) vs BasicBlock (3x3-3x3)
  std::array<int64_t, 4> blocks;   // blocks per stage (layer1..layer4)
  static constexpr std::array<int64_t, 4> planes{64, 128, 256, 512};
  constexpr int64_t expansion() const { return bottleneck ? 4 : 1; }
  constexpr int64_t feature_dim() const { return 512 * expansion(); }
};

inline constexpr ResNetSpec resnet18_spec{"resnet18", false, {2, 2, 2, 2}};
inline constexpr ResNetSpec resnet50_spec{"resnet50", true, {3, 4, 6, 3}};

constexpr int64_t parameter_count(const ResNetSpec& s, int64_t num_classes) {
  using namespace count;
  int64_t n = conv(3, 64, 7) + norm(64);
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    int64_t p = ResNetSpec::planes[stage], out = p * s.expansion();
    for (int64_t b = 0; b < s.blocks[stage]; ++b) {
      int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      if (s.bottleneck)
        n += conv(in, p, 1) + norm(p) + conv(p, p, 3) + norm(p) + conv(p, out, 1) + norm(out);
      else
        n += conv(in, p, 3) + norm(p) + conv(p, p, 3) + norm(p);
      if (stride != 1 || in != out) n += conv(in, out, 1) + norm(out);  // downsample.0/.1
      in = out;
    }
  }
  return n + linear(s.feature_dim(), num_classes);
}

static_assert(parameter_count(resnet18_spec, 1000) == 11689512, "resnet18 differs from torchvision");
static_assert(parameter_count(resnet50_spec, 1000) == 25557032, "resnet50 differs from torchvision");
static_assert(parameter_count(resnet18_spec, 7) == 11180103);
static_assert(parameter_count(resnet50_spec, 7) == 23522375);

}  // namespace fer::models
