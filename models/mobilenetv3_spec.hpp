#pragma once
// MobileNetV3-Large and -Small as torchvision 0.14 defines them.
#include <array>

#include "models/param_count.hpp"

namespace fer::models {

struct InvertedResidualSpec {
  int64_t in, kernel, expanded, out;
  bool se;
  bool hardswish;  // else ReLU
  int64_t stride;
};

template <size_t N>
struct MobileNetV3Spec {
  const char* name;
  std::array<InvertedResidualSpec, N> blocks;
  int64_t last_channel;            // hidden width of the classifier
  int64_t stem = 16;
  double dropout = 0.2;
  double bn_eps = 1e-3, bn_momentum = 0.01;
  constexpr int64_t last_conv() const { return 6 * blocks.back().out; }
};

inline constexpr MobileNetV3Spec<15> mobilenet_v3_large_spec{
    "mobilenet_v3_large",
    {{{16, 3, 16, 16, false, false, 1},
      {16, 3, 64, 24, false, false, 2},
      {24, 3, 72, 24, false, false, 1},
      {24, 5, 72, 40, true, false, 2},
      {40, 5, 120, 40, true, false, 1},
      {40, 5, 120, 40, true, false, 1},
      {40, 3, 240, 80, false, true, 2},
      {80, 3, 200, 80, false, true, 1},
      {80, 3, 184, 80, false, true, 1},
      {80, 3, 184, 80, false, true, 1},
      {80, 3, 480, 112, true, true, 1},
      {112, 3, 672, 112, true, true, 1},
      {112, 5, 672, 160, true, true, 2},
      {160, 5, 960, 160, true, true, 1},
      {160, 5, 960, 160, true, true, 1}}},
    1280};

inline constexpr MobileNetV3Spec<11> mobilenet_v3_small_spec{
    "mobilenet_v3_small",
    {{{16, 3, 16, 16, true, false, 2},
      {16, 3, 72, 24, false, false, 2},
      {24, 3, 88, 24, false, false, 1},
      {24, 5, 96, 40, true, true, 2},
      {40, 5, 240, 40, true, true, 1},
      {40, 5, 240, 40, true, true, 1},
      {40, 5, 120, 48, true, true, 1},
      {48, 5, 144, 48, true, true, 1},
      {48, 5, 288, 96, true, true, 2},
      {96, 5, 576, 96, true, true, 1},
      {96, 5, 576, 96, true, true, 1}}},
    1024};

constexpr int64_t se_squeeze_channels(int64_t expanded) { return count::make_divisible(double(expanded / 4), 8); }

template <size_t N>
constexpr int64_t parameter_count(const MobileNetV3Spec<N>& s, int64_t num_classes) {
  using namespace count;
  int64_t n = conv(3, s.stem, 3) + norm(s.stem);
  for (const auto& b : s.blocks) {
    if (b.expanded != b.in) n += conv(b.in, b.expanded, 1) + norm(b.expanded);
    n += conv(b.expanded, b.expanded, b.kernel, b.expanded) + norm(b.expanded);
    if (b.se) {
      int64_t sq = se_squeeze_channels(b.expanded);
      n += conv(b.expanded, sq, 1, 1, true) + conv(sq, b.expanded, 1, 1, true);
    }
    n += conv(b.expanded, b.out, 1) + norm(b.out);
  }
  n += conv(s.blocks.back().out, s.last_conv(), 1) + norm(s.last_conv());
  return n + linear(s.last_conv(), s.last_channel) + linear(s.last_channel, num_classes);
}

static_assert(parameter_count(mobilenet_v3_large_spec, 1000) == 5483032, "mobilenet_v3_large differs from torchvision");
static_assert(parameter_count(mobilenet_v3_small_spec, 1000) == 2542856, "mobilenet_v3_small differs from torchvision");
static_assert(parameter_count(mobilenet_v3_large_spec, 7) == 4210999);
static_assert(parameter_count(mobilenet_v3_small_spec, 7) == 1525031);

}  // namespace fer::models
