#pragma once
// EfficientNet-B0 as torchvision 0.14 defines it (MBConv stages with squeeze-excitation and stochastic depth).
#include <array>

#include "models/param_count.hpp"

namespace fer::models {

struct MBConvStage {
  int64_t expand_ratio, kernel, stride, in, out, layers;
};

struct EfficientNetSpec {
  const char* name;
  std::array<MBConvStage, 7> stages;
  int64_t stem = 32;
  int64_t last_channels = 1280;         // 4 x the last stage's output
  double stochastic_depth_prob = 0.2;   // linearly increased over blocks
  double dropout = 0.2;                 // before the classifier
  double bn_eps = 1e-5;

  constexpr int64_t total_blocks() const {
    int64_t n = 0;
    for (const auto& s : stages) n += s.layers;
    return n;
  }
};

inline constexpr EfficientNetSpec efficientnet_b0_spec{
    "efficientnet_b0",
    {{{1, 3, 1, 32, 16, 1},
      {6, 3, 2, 16, 24, 2},
      {6, 5, 2, 24, 40, 2},
      {6, 3, 2, 40, 80, 3},
      {6, 5, 1, 80, 112, 3},
      {6, 5, 2, 112, 192, 4},
      {6, 3, 1, 192, 320, 1}}}};

// One MBConv block: [expand 1x1 + BN] -> depthwise kxk + BN -> SE (squeeze = max(1, in/4)) -> project 1x1 + BN.
constexpr int64_t mbconv_parameter_count(int64_t in, int64_t out, int64_t expand_ratio, int64_t kernel) {
  using namespace count;
  int64_t exp = in * expand_ratio, sq = in / 4 > 1 ? in / 4 : 1;
  int64_t n = 0;
  if (exp != in) n += conv(in, exp, 1) + norm(exp);
  n += conv(exp, exp, kernel, exp) + norm(exp);
  n += conv(exp, sq, 1, 1, true) + conv(sq, exp, 1, 1, true);
  return n + conv(exp, out, 1) + norm(out);
}

constexpr int64_t parameter_count(const EfficientNetSpec& s, int64_t num_classes) {
  using namespace count;
  int64_t n = conv(3, s.stem, 3) + norm(s.stem);
  for (const auto& st : s.stages)
    for (int64_t b = 0; b < st.layers; ++b)
      n += mbconv_parameter_count(b == 0 ? st.in : st.out, st.out, st.expand_ratio, st.kernel);
  int64_t last_in = s.stages.back().out;
  n += conv(last_in, s.last_channels, 1) + norm(s.last_channels);
  return n + linear(s.last_channels, num_classes);
}

static_assert(parameter_count(efficientnet_b0_spec, 1000) == 5288548, "efficientnet_b0 differs from torchvision");
static_assert(parameter_count(efficientnet_b0_spec, 7) == 4016515);

}  // namespace fer::models
