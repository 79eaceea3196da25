#pragma once
// exp, sigmoid and SiLU for f32 written as straight-line arithmetic (no branch, no library call), so that a loop
// over them vectorizes: with -march=x86-64-v3 GCC turns kernels/cpu/elementwise.cpp's SiLU/sigmoid loops into
// vfmadd...ps / vpslld / vdivps on ymm (objdump -d of elementwise.cpp.o). The C library's expf is a call per element
// and kept SiLU scalar. The tail of a loop runs the same operations one lane at a time, so a value does not depend
// on where a parallel chunk or a vector ends. Accuracy (tests/test_elementwise.cpp): exp within 1 ulp of the
// correctly rounded value over the whole float range, subnormal results included.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace fer::kernels {

// always_inline: GCC otherwise keeps a call to it in large callers (elementwise.cpp's serial path ran scalar).
[[gnu::always_inline]] inline float exp_f32(float x) {
  // Beyond these e^x is inf (e^89 > FLT_MAX) or rounds to 0 (e^-105 < half the smallest subnormal); the clamp keeps
  // 2^n below in range. std::max/min in this order let a NaN through.
  x = std::min(std::max(x, -105.0f), 89.0f);
  // x = n ln2 + r, |r| <= ln2/2: adding 1.5 * 2^23 rounds x / ln2 to the nearest integer n, held in the low bits.
  constexpr float kShift = 12582912.0f, kLog2e = 1.44269504088896341f;
  const float t = std::fma(x, kLog2e, kShift);
  const float n = t - kShift;
  const int32_t ni = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kShift);
  // ln2 in two parts (the high one has 16 significant bits, so n * high is exact).
  float r = std::fma(n, -0.693145751953125f, x);
  r = std::fma(n, -1.42860682030941723e-6f, r);
  // e^r by its Taylor polynomial of degree 7: the truncation, (ln2/2)^8 / 8!, is below 0.05 ulp.
  float p = 1.0f / 5040;
  p = std::fma(p, r, 1.0f / 720);
  p = std::fma(p, r, 1.0f / 120);
  p = std::fma(p, r, 1.0f / 24);
  p = std::fma(p, r, 1.0f / 6);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  // 2^n in two factors, each a normal float for n in [-152, 128]: subnormal results round once, overflow gives inf.
  const int32_t half = ni >> 1;
  const float s1 = std::bit_cast<float>((half + 127) << 23), s2 = std::bit_cast<float>((ni - half + 127) << 23);
  return p * s1 * s2;
}

[[gnu::always_inline]] inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }
[[gnu::always_inline]] inline float silu_f32(float x) { return x / (1.0f + exp_f32(-x)); }

// For the kernels' f32/f64 templates: f32 on the functions above, f64 on the C library's exp (one call per element).
template <class T>
inline T exp_of(T v) {
  if constexpr (std::is_same_v<T, float>) return exp_f32(v);
  else return std::exp(v);
}
template <class T>
inline T sigmoid_of(T v) {
  if constexpr (std::is_same_v<T, float>) return sigmoid_f32(v);
  else return T(1) / (T(1) + std::exp(-v));
}
template <class T>
inline T silu_of(T v) {
  if constexpr (std::is_same_v<T, float>) return silu_f32(v);
  else return v / (T(1) + std::exp(-v));
}

}  // namespace fer::kernels
