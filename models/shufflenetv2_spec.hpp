#pragma once
// ShuffleNetV2 x0.5 and x1.0 as torchvision 0.14 defines them.
#include <array>

#include "models/param_count.hpp"

namespace fer::models {

struct ShuffleNetV2Spec {
  const char* name;
  std::array<int64_t, 5> out_channels;                  // conv1, stage2, stage3, stage4, conv5
  static constexpr std::array<int64_t, 3> repeats{4, 8, 4};
};

inline constexpr ShuffleNetV2Spec shufflenet_v2_x0_5_spec{"shufflenet_v2_x0_5", {24, 48, 96, 192, 1024}};
inline constexpr ShuffleNetV2Spec shufflenet_v2_x1_0_spec{"shufflenet_v2_x1_0", {24, 116, 232, 464, 1024}};

// An InvertedResidual unit: stride 2 units have both branches, stride 1 units split the input in half.
constexpr int64_t shuffle_unit_parameter_count(int64_t in, int64_t out, bool stride2) {
  using namespace count;
  int64_t bf = out / 2, n = 0;
  if (stride2) n += conv(in, in, 3, in) + norm(in) + conv(in, bf, 1) + norm(bf);  // branch1
  int64_t b2_in = stride2 ? in : bf;
  return n + conv(b2_in, bf, 1) + norm(bf) + conv(bf, bf, 3, bf) + norm(bf) + conv(bf, bf, 1) + norm(bf);
}

constexpr int64_t parameter_count(const ShuffleNetV2Spec& s, int64_t num_classes) {
  using namespace count;
  int64_t in = s.out_channels[0];
  int64_t n = conv(3, in, 3) + norm(in);
  for (int stage = 0; stage < 3; ++stage) {
    int64_t out = s.out_channels[stage + 1];
    for (int64_t u = 0; u < ShuffleNetV2Spec::repeats[stage]; ++u) {
      n += shuffle_unit_parameter_count(in, out, u == 0);
      in = out;
    }
  }
  n += conv(in, s.out_channels[4], 1) + norm(s.out_channels[4]);
  return n + linear(s.out_channels[4], num_classes);
}

static_assert(parameter_count(shufflenet_v2_x0_5_spec, 1000) == 1366792, "shufflenet_v2_x0_5 differs from torchvision");
static_assert(parameter_count(shufflenet_v2_x1_0_spec, 1000) == 2278604, "shufflenet_v2_x1_0 differs from torchvision");
static_assert(parameter_count(shufflenet_v2_x0_5_spec, 7) == 348967);
static_assert(parameter_count(shufflenet_v2_x1_0_spec, 7) == 1260779);

}  // namespace fer::models
