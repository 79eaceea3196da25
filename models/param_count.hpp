#pragma once
// Compile-time parameter counting for the model zoo. Each architecture's spec (constexpr data) has a constexpr
// count that mirrors how its builder creates layers; the builders are checked against it at run time and the
// count against torchvision's published figure at compile time.
#include <cstddef>
#include <cstdint>

namespace fer::models::count {

// A k x k convolution (all the zoo's kernels are square).
constexpr int64_t conv(int64_t in, int64_t out, int64_t k, int64_t groups = 1, bool bias = false) {
  return out * (in / groups) * k * k + (bias ? out : 0);
}
// Learnable affine of BatchNorm/LayerNorm (running statistics are buffers, not parameters).
constexpr int64_t norm(int64_t channels) { return 2 * channels; }
constexpr int64_t linear(int64_t in, int64_t out, bool bias = true) { return in * out + (bias ? out : 0); }

// torchvision's _make_divisible (channel rounding of MobileNet/EfficientNet).
constexpr int64_t make_divisible(double v, int64_t divisor) {
  int64_t rounded = int64_t(v + double(divisor) / 2) / divisor * divisor;
  int64_t nv = rounded > divisor ? rounded : divisor;
  if (double(nv) < 0.9 * v) nv += divisor;
  return nv;
}

}  // namespace fer::models::count
